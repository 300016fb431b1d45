"""Which backends decode which Transfer Syntax, in which order.

Backends are imported lazily: ``import dicomio`` loads no codec. Each family
has an ordered list, the fastest correct backend first; a frame that fails in
one backend falls back to the next. ``backend="name"`` forces one.

Third-party backends register through the ``dicomio.backends`` entry-point
group (each entry point names a :class:`~dicomio.backends._base.Backend`
instance, or a callable returning one), or at run time with :func:`register`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable
from typing import Any

from ..errors import BackendUnavailableError, UnsupportedTransferSyntaxError
from ._base import Backend, PixelSpec

__all__ = [
    "BUILTIN",
    "ORDER",
    "get",
    "names",
    "candidates",
    "register",
    "unregister",
    "support_table",
]

#: Built-in backends: name -> module under dicomio.backends.
BUILTIN = {
    "imagecodecs": "imagecodecs",
    "native": "native",
    "pylibjpeg": "pylibjpeg",
    "gdcm": "gdcm",
    "pyjpegls": "pyjpegls",
    "pillow": "pillow",
    "pyav": "video",
}

#: Preferred order per codec family. imagecodecs releases the GIL and takes
#: ``out=``, so it leads everywhere it can; Pillow's JPEG decoder also releases
#: the GIL; the rest hold it and serve as fallbacks and cross-checks. Video
#: streams are decoded whole by PyAV (FFmpeg), driven by dicomio.image.video.
ORDER: dict[str, tuple[str, ...]] = {
    "native": ("native", "gdcm"),
    "deflate": ("imagecodecs", "native"),
    "rle": ("imagecodecs", "native", "pylibjpeg", "gdcm"),
    "jpeg": ("imagecodecs", "pillow", "pylibjpeg", "gdcm"),
    "jpegls": ("imagecodecs", "pyjpegls", "pylibjpeg", "gdcm"),
    "jpeg2k": ("imagecodecs", "pylibjpeg", "gdcm", "pillow"),
    "htj2k": ("imagecodecs", "pylibjpeg", "gdcm"),
    "jpegxl": ("imagecodecs",),
    "video": ("pyav",),
}

_lock = threading.RLock()
_loaded: dict[str, Backend] = {}
_extra: dict[str, Backend] = {}
_entry_points_done = False


def _load_entry_points() -> None:
    global _entry_points_done
    if _entry_points_done:
        return
    with _lock:
        if _entry_points_done:
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group="dicomio.backends"):
            # A broken third-party plugin must not break dicomio, but it must
            # not vanish silently either: it is listed as unavailable.
            try:
                obj = ep.load()
                be = obj() if not isinstance(obj, Backend) and callable(obj) else obj
                if not isinstance(be, Backend):
                    raise TypeError(f"{ep.value} is not a dicomio Backend")
            except Exception as exc:
                be = _Broken(ep.name, f"entry point {ep.value}: {exc}")
            _extra.setdefault(be.name or ep.name, be)
        _entry_points_done = True


class _Broken(Backend):
    def __init__(self, name: str, why: str) -> None:
        super().__init__()
        self.name = name
        self.install = why
        self._available = False
        self._why = why


def names() -> list[str]:
    """Every backend name, built-in first, then registered ones."""
    _load_entry_points()
    return list(BUILTIN) + [n for n in _extra if n not in BUILTIN]


def get(name: str) -> Backend:
    """Return the backend called ``name`` (imports only its small module)."""
    _load_entry_points()
    be = _loaded.get(name)
    if be is not None:
        return be
    with _lock:
        be = _loaded.get(name)
        if be is None:
            if name in _extra:
                be = _extra[name]
            elif name in BUILTIN:
                try:
                    mod = importlib.import_module(f"dicomio.backends.{BUILTIN[name]}")
                    be = mod.backend
                except Exception as exc:  # a broken module is an unavailable backend
                    be = _Broken(name, f"dicomio.backends.{name} failed to import: {exc}")
            else:
                raise ValueError(
                    f"unknown backend {name!r}; choose one of: {', '.join(names())}"
                )
            _loaded[name] = be
    return be


def register(backend: Backend, *, first: bool = False) -> None:
    """Register a third-party backend at run time.

    Parameters
    ----------
    backend : Backend
        The instance; its ``syntaxes`` say what it decodes.
    first : bool
        Put it before the built-in backends for its syntaxes.
    """
    if not isinstance(backend, Backend) or not backend.name:
        raise TypeError("register() takes a named dicomio Backend instance")
    with _lock:
        _extra[backend.name] = backend
        _loaded[backend.name] = backend
        if first:
            _first.add(backend.name)
        else:
            _first.discard(backend.name)


_first: set[str] = set()


def unregister(name: str) -> None:
    """Remove a backend added with :func:`register` or an entry point."""
    with _lock:
        _extra.pop(name, None)
        _first.discard(name)
        if name not in BUILTIN:
            _loaded.pop(name, None)


def _ordered(family: str) -> list[str]:
    _load_entry_points()
    extra = [n for n in _extra if n not in BUILTIN]
    head = [n for n in extra if n in _first]
    tail = [n for n in extra if n not in _first]
    return head + list(ORDER.get(family, ())) + tail


def candidates(spec: PixelSpec, backend: str | Iterable[str] | None = None
               ) -> list[Backend]:
    """The available backends able to decode ``spec``, best first.

    Parameters
    ----------
    spec : PixelSpec
        What the frames hold.
    backend : str or list of str, optional
        Force these backends (in this order) instead of the default order.

    Raises
    ------
    UnsupportedTransferSyntaxError
        No backend dicomio knows handles this syntax (or the forced one
        does not).
    BackendUnavailableError
        Backends exist but none is installed; the message says what to
        ``pip install``.
    """
    ts = spec.transfer_syntax
    if backend is not None:
        wanted = [backend] if isinstance(backend, str) else list(backend)
        order = [get(n).name for n in wanted]
    else:
        order = _ordered(ts.family)
    capable = [b for b in (get(n) for n in order) if _supports(b, spec)]
    if not capable and backend is None and ts.retired:
        raise UnsupportedTransferSyntaxError(_no_decoder(spec, order),
                                             transfer_syntax=str(ts))
    if not capable:
        what = (f"backend {', '.join(order)} cannot" if backend is not None
                else "no backend can")
        raise UnsupportedTransferSyntaxError(
            f"{what} decode {spec.bits_stored}-bit "
            f"{spec.samples_per_pixel}-sample data in this syntax",
            transfer_syntax=str(ts),
        )
    ready = [b for b in capable if b.available()]
    if ready and all(b.install_for(ts.uid) is not None for b in ready):
        # Installed, but not the part this syntax needs (pylibjpeg without
        # its GPL libjpeg plugin is the only decoder of hierarchical JPEG).
        ready = []
    if not ready:
        hints = "; ".join(f"{b.name}: {b.install}" for b in capable)
        uses = f" (JPEG {ts.process})" if ts.retired else ""
        raise BackendUnavailableError(
            f"no installed backend decodes this syntax{uses}. Install one of: {hints}",
            transfer_syntax=str(ts),
            tried=[(b.name, b.unavailable_reason or "not installed") for b in capable],
        )
    return ready


#: Why no built-in backend claims a retired JPEG syntax (measured here).
_WHY_NOT = {
    "lossless arithmetic": (
        "libjpeg-turbo (imagecodecs) refuses lossless arithmetic coding "
        "(\"Requested feature was omitted at compile time\"), GDCM does not know "
        "the syntax, and pylibjpeg-libjpeg (which decodes it) is not installed"),
    "hierarchical": (
        "libjpeg-turbo (imagecodecs, Pillow) and GDCM refuse the hierarchical "
        "mode, and pylibjpeg-libjpeg (which decodes it) is not installed"),
}


def _no_decoder(spec: PixelSpec, order: Iterable[str]) -> str:
    """The message for a retired JPEG syntax no installed backend decodes."""
    ts = spec.transfer_syntax
    claimed = [n for n in order if ts.uid in get(n).syntaxes]
    lossless_arith = "lossless, arithmetic" in ts.process
    why = _WHY_NOT["lossless arithmetic" if lossless_arith else "hierarchical"]
    if claimed:  # claimed, but not for this data (bit depth, samples)
        why = (f"{', '.join(claimed)} cannot decode {spec.bits_stored}-bit "
               f"{spec.samples_per_pixel}-sample data in it")
    return (f"no installed backend decodes JPEG {ts.process}, the process this "
            f"retired Transfer Syntax names: {why}")


def _supports(b: Backend, spec: PixelSpec) -> bool:
    try:
        return bool(b.supports(spec))
    except Exception:
        return False


def support_table() -> list[dict[str, Any]]:
    """One row per Transfer Syntax: which backends claim it and which are installed."""
    from ..tsyntax import TRANSFER_SYNTAXES

    rows = []
    for ts in TRANSFER_SYNTAXES.values():
        claim = [n for n in _ordered(ts.family) if ts.uid in get(n).syntaxes]
        rows.append({
            "uid": ts.uid,
            "keyword": ts.keyword,
            "family": ts.family,
            "lossy": ts.lossy,
            "backends": {n: get(n).available() for n in claim},
        })
    return rows
