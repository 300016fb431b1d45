"""The contract every decoding backend follows.

A backend is a small object with a ``name``, a pip ``install`` hint, a lazy
:meth:`Backend.available` check, a :meth:`Backend.supports` test and one
:meth:`Backend.decode` method that turns one frame's bytes into an array.

Backends know their library and nothing of DICOM's rules. The core
(:mod:`dicomio.image`) tells them what colour space the stream holds and what
it wants back, then fixes sign, precision, planar layout and colour after them,
so every backend stays a few dozen lines and answers the same questions.

Third-party backends register through the ``dicomio.backends`` entry-point
group: the entry point names a :class:`Backend` instance (or a zero-argument
callable returning one).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..pixels.spec import PixelSpec

__all__ = ["PixelSpec", "FrameContext", "Decoded", "Backend", "Unsupported",
           "require_eoi", "family_syntaxes", "OPENJPEG", "OPENJPH", "CHARLS",
           "LIBJPEG_TURBO", "LIBJPEG_RICHTER", "IJG_LIBJPEG", "LIBJXL", "ZLIB"]


def family_syntaxes(*families: str, retired: tuple[int, ...] = ()) -> frozenset[str]:
    """The UIDs of ``families`` a backend claims.

    Retired JPEG syntaxes (1.2.840.10008.1.2.4.52-.66) are claimed one by one,
    as measured (``retired=(52, 53)`` for .52 and .53): their processes
    (arithmetic coding, progressive and hierarchical modes) are optional parts
    of the JPEG libraries.
    """
    from ..tsyntax import TRANSFER_SYNTAXES

    extra = {f"1.2.840.10008.1.2.4.{n}" for n in retired}
    return frozenset(u for u, t in TRANSFER_SYNTAXES.items()
                     if t.family in families and (not t.retired or u in extra))

# The codec libraries the built-in backends declare in Backend.libraries, one
# spelling each. Each backend module says where its claim comes from.
OPENJPEG = "OpenJPEG"
OPENJPH = "OpenJPH"
CHARLS = "CharLS"
LIBJPEG_TURBO = "libjpeg-turbo"
LIBJPEG_RICHTER = "libjpeg (Thomas Richter)"
IJG_LIBJPEG = "IJG libjpeg 6b (GDCM's copy)"
LIBJXL = "libjxl"
ZLIB = "zlib"


class Unsupported(ValueError):
    """A backend declines a frame it cannot represent (a limit of the backend).

    Raised from :meth:`Backend.decode` when the data may be fine but this
    backend cannot return it exactly (Pillow and 12-bit colour J2K, say).
    Unlike other failures it says nothing about the data, so the core does
    not count it against the backend's codec library: other backends on the
    same library are still tried for the frame.
    """


def require_eoi(data: bytes | memoryview, what: str = "JPEG-LS") -> None:
    """Refuse a JPEG / JPEG-LS stream that does not end with EOI (FFD9).

    CharLS refuses such streams anyway, but some truncated ones cost it
    seconds of CPU first (tests/robustness/test_codec_guard.py); trailing zero padding is
    allowed.
    """
    if bytes(data[-64:]).rstrip(b"\x00")[-2:] != b"\xff\xd9":
        raise ValueError(f"the {what} stream does not end with EOI (truncated)")


@dataclass
class FrameContext:
    """Everything a backend is told about the frame it decodes.

    Attributes
    ----------
    spec : PixelSpec
        The header's description.
    info : object or None
        The parsed codestream header (:mod:`dicomio.pixels.codestream`), if any.
    stream_color : str
        What the core decided the stream's samples are: ``"MONOCHROME"``,
        ``"RGB"``, ``"YBR_FULL"`` (YCbCr), ``"YBR_RCT"`` or ``"YBR_ICT"``
        (J2K with the multiple-component transform), or ``"PALETTE"``.
    want_rgb : bool
        True when the caller wants RGB: a backend that can convert YCbCr to RGB
        inside the codec should do so and say so in :attr:`Decoded.color`.
    out : numpy.ndarray or None
        A preallocated frame-shaped array of ``spec.dtype`` the backend may
        decode into (imagecodecs ``out=``). Using it is optional.
    index : int
        The 0-based frame index (for messages).
    """

    spec: PixelSpec
    info: Any = None
    stream_color: str = "MONOCHROME"
    want_rgb: bool = True
    out: np.ndarray | None = None
    index: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decoded:
    """A backend's answer for one frame.

    Attributes
    ----------
    array : numpy.ndarray
        Samples as the codec produced them: ``(rows, cols)``,
        ``(rows, cols, samples)`` interleaved, or ``(samples, rows, cols)``
        when ``planar`` is True. Any integer dtype wide enough; the core casts.
    color : str
        The colour space the array holds: ``"MONOCHROME"``, ``"RGB"``,
        ``"YBR_FULL"`` or ``"PALETTE"``.
    planar : bool
        True when samples come first (colour-by-plane).
    signed : bool or None
        Whether the codec already returned values in the header's signedness.
        ``None`` lets the core decide from the codestream.
    """

    array: np.ndarray
    color: str
    planar: bool = False
    signed: bool | None = None


class Backend:
    """Base class for a decoding backend.

    Subclasses set :attr:`name`, :attr:`install`, :attr:`modules` and
    :attr:`syntaxes` and implement :meth:`decode`; they import their library
    only inside :meth:`load` (never at module import).
    """

    #: Label used in ``backend=`` and in reports.
    name: str = ""
    #: What to run when it is missing.
    install: str = ""
    #: Modules that must import for the backend to be available.
    modules: tuple[str, ...] = ()
    #: Transfer Syntax UIDs it can decode.
    syntaxes: frozenset[str] = frozenset()
    #: True when the decoder releases the GIL, so threads decode in parallel.
    gil_free: bool = False
    #: True when the library is known to abort the process on some corrupt
    #: streams: reached as a fallback (another backend already failed on the
    #: frame, so the data is suspect), it runs in a worker process.
    crash_prone: bool = False
    #: Transfer Syntax families whose decoder honours the ``codec_threads``
    #: option (a frame decoded alone on several threads).
    codec_thread_families: frozenset[str] = frozenset()
    #: The codec library that decodes each family, e.g. ``{"jpeg2k":
    #: "OpenJPEG"}``. Once a backend has failed on a frame's data, the other
    #: backends built on the same library are not run for that frame (see
    #: :meth:`libraries_for`). A family left out never skips anything.
    libraries: Mapping[str, str] = MappingProxyType({})

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._available: bool | None = None
        self._why: str = ""
        self._mods: dict[str, Any] = {}

    # -- availability -------------------------------------------------
    def load(self) -> dict[str, Any]:
        """Import the backend's modules once; raises ImportError if missing."""
        if self._mods:
            return self._mods
        with self._lock:
            if not self._mods:
                mods = {m: importlib.import_module(m) for m in self.modules}
                self._mods = mods
        return self._mods

    def available(self) -> bool:
        """True when the libraries import (checked once, cached, thread-safe)."""
        if self._available is None:
            try:
                self.load()
                self._check()
            except Exception as exc:  # any import-time failure means unavailable
                self._why = f"{type(exc).__name__}: {exc}"
                self._available = False
            else:
                self._available = True
        return self._available

    @property
    def unavailable_reason(self) -> str:
        """Why :meth:`available` is False (empty when available)."""
        self.available()
        return self._why

    def _check(self) -> None:
        """Extra availability checks (versions); raise to mark unavailable."""

    def install_for(self, uid: str) -> str | None:
        """The pip command that lets this backend decode Transfer Syntax
        ``uid``, or None when what it needs for ``uid`` is installed.

        A backend made of optional parts (pylibjpeg's plugins) overrides it
        to name the part a syntax needs.
        """
        return None if self.available() else self.install

    def version(self) -> str:
        """The library version, for reports."""
        if not self.available():
            return ""
        for mod in self._mods.values():
            v = getattr(mod, "__version__", None)
            if v:
                return str(v)
        return ""

    # -- decoding ------------------------------------------------------
    def supports(self, spec: PixelSpec) -> bool:
        """True when this backend can decode frames described by ``spec``."""
        return spec.transfer_syntax.uid in self.syntaxes

    def libraries_for(self, family: str, info: Any = None) -> tuple[str, ...]:
        """The codec libraries :meth:`decode` runs, in turn, for a frame.

        When the backend fails on a frame with a data error, every library
        named here has failed on it; a later backend whose libraries have all
        failed is not run. Empty (the default for an undeclared family):
        never skipped, never counted.

        Parameters
        ----------
        family : str
            :attr:`dicomio.tsyntax.TransferSyntax.family`.
        info : object or None
            The frame's parsed codestream header, for backends whose choice
            of library depends on the stream (imagecodecs and HTJ2K).
        """
        lib = self.libraries.get(family)
        return (lib,) if lib else ()

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        """Decode one frame's bytes. Raise any exception on failure.

        Raise :class:`Unsupported` for a frame the backend cannot represent
        whatever its data; any other exception counts as the codec library
        failing on the data.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<dicomio backend {self.name!r}>"
