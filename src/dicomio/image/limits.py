"""The cap on one decoded output (hostile headers must not allocate freely)."""

from __future__ import annotations

import os

__all__ = ["memory_limit"]


def memory_limit() -> int:
    """The default cap, in bytes, on one decoded output.

    ``DICOMIO_MEMORY_LIMIT`` (bytes, or with a ``KB``/``MB``/``GB`` suffix)
    overrides it; otherwise 80 % of physical memory.
    """
    env = os.environ.get("DICOMIO_MEMORY_LIMIT")
    if env:
        return _parse_size(env)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 << 30
    return int(total * 0.8)


def _parse_size(text: str) -> int:
    t = text.strip().upper().replace(" ", "")
    for suffix, mult in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10),
                         ("B", 1)):
        if t.endswith(suffix):
            return int(float(t[: -len(suffix)]) * mult)
    return int(float(t))
