"""When to use threads for per-file work: serially while files are fast.

Parsing a header or copying an uncompressed slice is Python work that holds
the GIL, so threads slow it down while files come from the page cache; they
pay off only while files wait on I/O (a network share, a cold disk). The scan
and :meth:`Series.read` start in the calling thread and hand the rest to a
thread pool once a window of files shows time spent blocked.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

__all__ = ["ThreadPoolExecutor", "as_completed", "default_threads",
           "serially_while_fast", "SCAN_WINDOW", "SLOW_OPEN"]


def default_threads() -> int:
    """Header-reading threads once files prove slow to open (see scan)."""
    return min(8, (os.cpu_count() or 1) * 2)


#: Files read one by one between two looks at whether they are slow to open.
SCAN_WINDOW = 16
#: Seconds per file spent blocked (not computing) above which the header
#: scan switches to threads: a network share or a cold disk, not the page
#: cache (which costs ~0.01 ms per file; parsing costs ~0.3-0.6 ms).
SLOW_OPEN = 0.2e-3


def _clock() -> tuple[float, float, int | None]:
    """Wall time, this thread's CPU time, its voluntary context switches.

    The switches (Linux: RUSAGE_THREAD) tell a thread that blocked on I/O
    from one that merely waited for a busy CPU; None where unknown.
    """
    switches = None
    who = getattr(resource, "RUSAGE_THREAD", None) if resource is not None else None
    if who is not None:
        switches = resource.getrusage(who).ru_nvcsw
    return time.perf_counter(), time.thread_time(), switches


def _slow_to_open(start: tuple[float, float, int | None], n: int) -> bool:
    """Whether the last ``n`` files, read since ``start``, waited on I/O."""
    wall, cpu, switches = _clock()
    waited = (wall - start[0]) - (cpu - start[1])
    if switches is None or start[2] is None:
        # Without the switch count a busy CPU looks like I/O: ask for more.
        return waited > max(5 * SLOW_OPEN * n, cpu - start[1])
    return waited > SLOW_OPEN * n and (switches - start[2]) >= n // 2


def serially_while_fast(n: int, step: Callable[[int], None]) -> int:
    """Call ``step(0)``, ``step(1)``, ... in this thread while files are fast.

    After every :data:`SCAN_WINDOW` calls, stop if that window spent time
    blocked on I/O (:func:`_slow_to_open`): the caller hands the rest to
    threads. Returns how many steps ran.
    """
    done = 0
    start = _clock()
    while done < n:
        step(done)
        done += 1
        if done % SCAN_WINDOW == 0:
            if _slow_to_open(start, SCAN_WINDOW):
                break
            start = _clock()
    return done

