"""The pylibjpeg backend: libjpeg, OpenJPEG and RLE through pylibjpeg's plugins.

Install with ``pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-rle``; JPEG and
JPEG-LS also need ``pip install pylibjpeg-libjpeg``, which is GPL-3.0 and so
never installed implicitly. Each plugin is optional: the backend supports the
Transfer Syntaxes of the plugins that import.

=====================  ==========================  ================================
plugin                 Transfer Syntaxes           what it returns
=====================  ==========================  ================================
pylibjpeg-libjpeg      JPEG .50 .51 .57 .70,       the coded components, interleaved,
                       every retired .52-.66,      unsigned (``colour_transform=0``
                       JPEG-LS .80 .81             never converts YCbCr)
pylibjpeg-openjpeg     J2K .90-.93,                interleaved, the codestream's
                       HTJ2K .201-.203             sign and precision, the inverse
                                                   MCT applied (RCT/ICT -> RGB)
pylibjpeg-rle          RLE .5                      one plane per sample (planar),
                                                   the stored container words
=====================  ==========================  ================================

Measured with libjpeg 2.5 (pylibjpeg-libjpeg): with ``colour_transform=0`` it
returns the raw components for every kind of stream (JFIF, Adobe APP14
transform 0 and 1, unmarked, component ids ``'R','G','B'``). With
``colour_transform=1`` it converts YCbCr to RGB unless an APP14 marker says
transform 0, whatever the JFIF marker or the component ids say, and on 4:2:2
streams its merged upsampler lands up to 9 levels from the standard matrix.
dicomio therefore always asks for the raw components and lets the core
convert, so every backend agrees.

None of the plugins release the GIL.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import Any

import numpy as np
from packaging.version import Version

from ._base import (
    LIBJPEG_RICHTER,
    OPENJPEG,
    Backend,
    Decoded,
    FrameContext,
    PixelSpec,
    family_syntaxes,
)

__all__ = ["PylibjpegBackend", "backend"]

# Thomas Richter's libjpeg decodes every retired process: arithmetic coding,
# spectral selection and full progression (.52-.56, 8 and 12 bits), lossless
# arithmetic coding (.58, 8 to 16 bits) and the hierarchical mode (.59-.66,
# 8 and 12 bits), measured on streams tests/_jpegwriter writes from the
# standard (differential frames, EXP, the QM-coder) and on jpegtran's.
_LIBJPEG = family_syntaxes("jpeg", "jpegls", retired=(
    52, 53, 54, 55, 56, 58, 59, 60, 61, 62, 63, 64, 65, 66))
_OPENJPEG = family_syntaxes("jpeg2k", "htj2k")
_HTJ2K = family_syntaxes("htj2k")
_RLE = family_syntaxes("rle")

#: plugin -> (module, distribution, minimum version, Transfer Syntaxes).
_PLUGINS: dict[str, tuple[str, str, str, frozenset[str]]] = {
    "libjpeg": ("libjpeg", "pylibjpeg-libjpeg", "2.1", _LIBJPEG),
    "openjpeg": ("openjpeg", "pylibjpeg-openjpeg", "2.0", _OPENJPEG),
    "rle": ("rle", "pylibjpeg-rle", "2.0", _RLE),
}

def _plugin_name(uid: str) -> str:
    """The plugin that decodes Transfer Syntax ``uid``."""
    for plugin, (*_, uids) in _PLUGINS.items():
        if uid in uids:
            return plugin
    raise ValueError(f"pylibjpeg has no plugin for Transfer Syntax {uid}")


def _as_bytes(data: bytes | bytearray | memoryview) -> bytes | bytearray:
    # The Cython decoders accept bytes and bytearray, not memoryview.
    return data if isinstance(data, (bytes, bytearray)) else bytes(data)


class PylibjpegBackend(Backend):
    """Decode with pylibjpeg's libjpeg, OpenJPEG and RLE plugins (GIL held)."""

    name = "pylibjpeg"
    install = (
        'pip install "dicomio[pylibjpeg]"  (pylibjpeg, -openjpeg, -rle; JPEG and '
        'JPEG-LS also need the GPL pylibjpeg-libjpeg: "dicomio[pylibjpeg-gpl]")'
    )
    modules = ("pylibjpeg",)
    syntaxes = _LIBJPEG | _OPENJPEG | _RLE
    gil_free = False
    # The plugins' READMEs: pylibjpeg-libjpeg wraps Thomas Richter's libjpeg
    # (github.com/thorfdbg/libjpeg), pylibjpeg-openjpeg wraps OpenJPEG
    # (openjpeg.utils.get_openjpeg_version() says 2.5.2 for 2.6.0) and
    # pylibjpeg-rle is its own Rust code.
    libraries = MappingProxyType({
        "jpeg": LIBJPEG_RICHTER, "jpegls": LIBJPEG_RICHTER, "jpeg2k": OPENJPEG,
        "htj2k": OPENJPEG, "rle": "pylibjpeg-rle (Rust)",
    })

    def __init__(self) -> None:
        super().__init__()
        self._plugins: dict[str, Any] | None = None
        self._plugin_why: dict[str, str] = {}

    # -- availability -------------------------------------------------
    def load(self) -> dict[str, Any]:
        """Import pylibjpeg and whichever of its plugins are installed.

        Raises
        ------
        ImportError
            When pylibjpeg itself is missing.
        """
        mods = super().load()
        if self._plugins is None:
            with self._lock:
                if self._plugins is None:
                    self._plugins = self._import_plugins()
        return mods

    def _import_plugins(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for plugin, (modname, dist, minimum, _) in _PLUGINS.items():
            try:
                mod = importlib.import_module(modname)
            except ImportError as exc:
                self._plugin_why[plugin] = f"{dist} is not installed ({exc})"
                continue
            version = str(getattr(mod, "__version__", "0"))
            if Version(version) < Version(minimum):
                self._plugin_why[plugin] = (
                    f"{dist} {version} is too old (need >= {minimum})"
                )
                continue
            found[plugin] = mod
        return found

    def _check(self) -> None:
        pylibjpeg = self._mods["pylibjpeg"]
        if Version(str(pylibjpeg.__version__)) < Version("2.0"):
            raise ImportError(
                f"pylibjpeg {pylibjpeg.__version__} is too old (need >= 2.0)"
            )
        if not self._plugins:
            why = "; ".join(self._plugin_why.values())
            raise ImportError(f"no pylibjpeg decoding plugin is usable: {why}")

    def version(self) -> str:
        """pylibjpeg's version followed by each usable plugin's."""
        if not self.available():
            return ""
        plugins = ", ".join(
            f"{name} {mod.__version__}" for name, mod in (self._plugins or {}).items()
        )
        return f"{self._mods['pylibjpeg'].__version__} ({plugins})"

    def install_for(self, uid: str) -> str | None:
        """The extra that installs the plugin for ``uid`` when it is missing
        (``dicomio[pylibjpeg-gpl]`` for the GPL libjpeg plugin)."""
        plugin = _plugin_name(uid)
        if self.available() and plugin in (self._plugins or {}):
            return None
        extra = "pylibjpeg-gpl" if plugin == "libjpeg" else "pylibjpeg"
        return f'pip install "dicomio[{extra}]"'

    def _plugin(self, uid: str) -> Any:
        """Return the plugin module decoding ``uid``, or raise ImportError."""
        self.load()
        plugin = _plugin_name(uid)
        mod = (self._plugins or {}).get(plugin)
        if mod is None:
            raise ImportError(f"{self._plugin_why.get(plugin, plugin)}: "
                              f"{self.install_for(uid)}")
        return mod

    def supports(self, spec: PixelSpec) -> bool:
        """True for the syntaxes of pylibjpeg's plugins, within their limits.

        A plugin that is not installed still counts as support: the registry
        then reports what to install, and :meth:`decode` names the plugin.
        """
        uid = spec.transfer_syntax.uid
        if uid not in self.syntaxes:
            return False
        if not self.available():
            return True
        mod = (self._plugins or {}).get(_plugin_name(uid))
        if mod is None:
            return True
        if uid in _HTJ2K:
            # High-throughput decoding arrived in the OpenJPEG 2.5 C library.
            return tuple(mod.utils.get_openjpeg_version()) >= (2, 5)
        ts = spec.transfer_syntax
        if ts.retired and "hierarchical" in ts.process:
            # libjpeg 2.5 refuses hierarchical frames of other precisions
            # ("frame precision in lossy mode must be 8 or 12"), measured on
            # 13- to 16-bit lossless ones.
            return spec.bits_stored <= 12 and (ts.lossy or spec.bits_stored in (8, 12))
        if uid in _RLE and spec.bits_allocated == 1:
            return Version(str(mod.__version__)) >= Version("2.2")
        return True

    # -- decoding ------------------------------------------------------
    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        """Decode one frame with the plugin for its Transfer Syntax."""
        uid = ctx.spec.transfer_syntax.uid
        mod = self._plugin(uid)
        if uid in _LIBJPEG:
            return self._libjpeg(mod, data, ctx)
        if uid in _OPENJPEG:
            return self._openjpeg(mod, data, ctx)
        return self._rle(mod, data, ctx)

    @staticmethod
    def _libjpeg(mod: Any, data: bytes, ctx: FrameContext) -> Decoded:
        # colour_transform=0: raw components for every stream kind (see the
        # module docstring); the core owns YCbCr -> RGB.
        arr = mod.decode(_as_bytes(data), 0)
        # JPEG and JPEG-LS code unsigned samples: a signed header needs the
        # core's two's-complement reinterpretation at the stream precision.
        signed = None if ctx.spec.pixel_representation else True
        return Decoded(arr, ctx.stream_color, planar=False, signed=signed)

    @staticmethod
    def _openjpeg(mod: Any, data: bytes, ctx: FrameContext) -> Decoded:
        # decode() recognises raw codestreams and JP2 files by their magic
        # number and returns the codestream's own sign (int dtype if signed).
        arr = mod.decode(_as_bytes(data))
        color = ctx.stream_color
        if color in ("YBR_RCT", "YBR_ICT"):
            # OpenJPEG always applies the inverse multiple-component transform.
            color = "RGB"
        return Decoded(arr, color, planar=False, signed=None)

    @staticmethod
    def _rle(mod: Any, data: bytes, ctx: FrameContext) -> Decoded:
        spec = ctx.spec
        pixels = spec.rows * spec.columns
        buf = mod.decode_pixel_data(
            _as_bytes(data),
            version=2,
            rows=spec.rows,
            columns=spec.columns,
            bits_allocated=spec.bits_allocated,
            byteorder="<",
        )
        # Bits Allocated 1 comes back unpacked, one pixel per byte.
        itemsize = max(1, spec.bits_allocated // 8)
        arr = np.frombuffer(buf, dtype=f"<u{itemsize}")
        # The segment count, not the header, says how many samples there are.
        samples, rest = divmod(arr.size, pixels)
        if rest or samples < 1:
            raise ValueError(
                f"RLE frame decoded to {arr.size} samples, not a multiple of "
                f"{spec.rows} x {spec.columns}"
            )
        # The container words as stored: a signed header with Bits Stored
        # below Bits Allocated still needs the core's sign extension.
        signed = None if spec.pixel_representation else True
        if samples == 1:
            return Decoded(arr.reshape(spec.rows, spec.columns), ctx.stream_color,
                           signed=signed)
        return Decoded(arr.reshape(samples, spec.rows, spec.columns),
                       ctx.stream_color, planar=True, signed=signed)


#: The instance the registry uses.
backend = PylibjpegBackend()
