"""Version and source commit of the running code (read once, from files only)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tradeforge import __version__
from tradeforge.config import PROJECT_ROOT


@lru_cache(maxsize=1)
def git_commit(root: Path = PROJECT_ROOT) -> str | None:
    """Return the checked-out commit of a source tree, or ``None`` outside a checkout."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:40] or None
        ref = head[5:]
        ref_file = git / ref
        if ref_file.exists():
            return ref_file.read_text().strip()[:40]
        packed = git / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split(" ", 1)[0][:40]
    except OSError:
        return None
    return None


VERSION = __version__
