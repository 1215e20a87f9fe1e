"""Repositories: every SQL query lives here, one module per feature."""
