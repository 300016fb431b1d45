"""Errors a codec reports and then ignores, turned back into exceptions.

imagecodecs' HTJ2K decoder (OpenJPH) reads the codestream through a Cython
callback. When OpenJPH fails inside it (``RuntimeError: ojph error``), the
callback cannot raise: Cython prints the traceback (``sys.excepthook``),
reports it to ``sys.unraisablehook`` ("Exception ignored in ...") and the
decode returns whatever pixels it had, with no error. A damaged stream then
comes back as silent wrong pixels and a traceback on the terminal.

:func:`raised_in` runs a call with hooks that record such an error for the
calling thread only (a report from any other thread, or from another
object, goes to the hooks that were there before) and raises it after the
call. The hooks are installed while at least one such call runs, and put
back by the last one to finish unless someone replaced them meanwhile.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["raised_in"]

_lock = threading.Lock()
_active = 0
_saved: tuple[Any, Any] | None = None
_local = threading.local()


def _watching(name: Any) -> bool:
    prefix = getattr(_local, "prefix", None)
    return prefix is not None and str(name).startswith(prefix)


def _unraisable(unraisable: Any) -> None:
    where = getattr(unraisable.object, "__qualname__", None) or repr(unraisable.object)
    if _watching(where.strip("'")):
        if getattr(_local, "error", None) is None:
            _local.error = unraisable.exc_value
        return
    prev = _saved[0] if _saved else sys.__unraisablehook__
    prev(unraisable)


def _except(kind: Any, value: Any, tb: Any) -> None:
    # Cython prints the callback's error through sys.excepthook first; the
    # same error is recorded by _unraisable right after.
    if getattr(_local, "prefix", None) is not None and isinstance(value, RuntimeError):
        return
    prev = _saved[1] if _saved else sys.__excepthook__
    prev(kind, value, tb)


def raised_in(prefix: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; raise what it reported from ``prefix``'s code.

    ``prefix`` starts the name under which the codec reports the error, e.g.
    ``"imagecodecs._htj2k."``. The first such error of the call is raised
    (the call's result is dropped).
    """
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = (sys.unraisablehook, sys.excepthook)
            sys.unraisablehook, sys.excepthook = _unraisable, _except
        _active += 1
    _local.prefix, _local.error = prefix, None
    try:
        result = fn(*args, **kwargs)
    finally:
        error = _local.error
        _local.prefix = _local.error = None
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                if sys.unraisablehook is _unraisable:
                    sys.unraisablehook = _saved[0]
                if sys.excepthook is _except:
                    sys.excepthook = _saved[1]
                _saved = None
    if error is not None:
        raise error
    return result
