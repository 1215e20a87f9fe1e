"""The domain core: pure Python, no web framework, database or exchange library."""
