"""Community Arena rules that need neither a framework nor a database: the hot ranking,
opaque keyset cursors and markdown rendering with an HTML allow-list."""
