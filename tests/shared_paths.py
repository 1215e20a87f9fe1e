"""Where the project's bundled data and the workspace's ../shared material live."""

from __future__ import annotations

from pathlib import Path

from tradeforge.data import bundled_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The workspace material CI places beside the clone (seeds, the full data set).
SHARED = REPO_ROOT.parent / "shared"
BUNDLED = bundled_dir()
