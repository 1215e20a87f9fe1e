"""Markdown documents served at /api/v1/docs/<name> (package data, read at run time)."""

from __future__ import annotations

from importlib import resources


def read_document(name: str) -> str:
    """Return the markdown text of ``<name>.md`` shipped in this package."""
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8")
