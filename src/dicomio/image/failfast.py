"""Fail fast: stop trying backends once a frame is known to be bad.

A frame falls back from one backend to the next, because libraries differ in
what they accept. Two things make the rest of the list pointless:

- the codestream itself shows that every capable backend's library refuses it
  (:func:`doomed`): a JPEG 2000 codestream cut short, when OpenJPEG is the
  library of every capable backend;
- a backend failed on the frame's data, so every later backend built on the
  same codec library (:meth:`~dicomio.backends._base.Backend.libraries_for`)
  would fail the same way (:class:`LibraryFailures`). A backend on another
  library is still tried: that is what fallback is for.

And two things make trying any (more) backend wrong: the codestream shows
damage its decoders would turn into wrong pixels without an error
(:func:`damaged`: zeroed JPEG 2000 / HTJ2K coded data), or a library's own
error proves the coded data corrupt (:attr:`LibraryFailures.proof`: CharLS's
"invalid encoded data"), where a more lenient library would only make
pixels out of the damage.

The frame's :class:`~dicomio.errors.DecodeError` lists each backend that was
not run and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..backends._base import CHARLS, OPENJPEG, Backend, Unsupported
from ..pixels import codestream

__all__ = ["LibraryFailures", "blames_library", "damaged", "doomed"]

#: Errors that prove the coded data corrupt, per library: the library parsed
#: the stream's headers, accepted its parameters, and found its entropy-coded
#: data impossible. Not a missing feature or a limit (those are other errors).
#: CharLS's invalid_encoded_data, measured on zeroed, marker-corrupted and
#: bit-flipped JPEG-LS data (imagecodecs and pyjpegls word it the same way);
#: Thomas Richter's libjpeg decodes all of them to wrong pixels, no error.
CORRUPT_DATA = {
    CHARLS: ("the encoded bit stream contains a general structural problem",),
}


def blames_library(exc: BaseException) -> bool:
    """True when a backend's failure says the frame's data defeat its library.

    Not for a missing library or plugin (ImportError), a limit of the backend
    (:class:`~dicomio.backends._base.Unsupported`) or an unimplemented path.
    A crash or a timeout in a worker process counts: the library failed on
    these bytes.
    """
    return not isinstance(exc, (ImportError, NotImplementedError, Unsupported))


class LibraryFailures:
    """The codec libraries that have failed on one frame.

    Parameters
    ----------
    family : str
        The Transfer Syntax family of the frame.
    info : object or None
        Its parsed codestream header (some backends pick a library by it).
    """

    def __init__(self, family: str, info: Any = None) -> None:
        self.family = family
        self.info = info
        self.failed: list[str] = []
        #: Why the coded data are known corrupt (a library's own error that
        #: :data:`CORRUPT_DATA` lists), or None.
        self.proof: str | None = None

    def libraries(self, be: Backend) -> tuple[str, ...]:
        """The libraries ``be`` runs for this frame (empty when undeclared)."""
        try:
            return tuple(be.libraries_for(self.family, self.info))
        except Exception:  # a third-party backend's bug must not stop decoding
            return ()

    def skip(self, be: Backend) -> str | None:
        """Why ``be`` is not run (its libraries all failed already), or None."""
        libs = self.libraries(be)
        if libs and all(lib in self.failed for lib in libs):
            return f"not run: {' and '.join(libs)} already failed on this frame"
        return None

    def record(self, be: Backend, failure: str = "") -> None:
        """``be`` failed on the frame's data (``failure``): its libraries did."""
        for lib in self.libraries(be):
            if lib not in self.failed:
                self.failed.append(lib)
            if self.proof is None and any(sign in failure
                                          for sign in CORRUPT_DATA.get(lib, ())):
                self.proof = (f"{lib} found its coded data corrupt ({failure}); a more "
                              "lenient decoder would return wrong pixels without an "
                              "error (read with on_error='recover' to get them anyway)")

    def rescued(self, be: Backend) -> str | None:
        """A warning when ``be`` decoded a frame another library refused, or None.

        A stream one library rejects as corrupt and another decodes may be
        damaged (zeroed JPEG-LS data decodes without error in Thomas
        Richter's libjpeg after CharLS refuses it): the pixels are returned,
        but never silently.
        """
        if not self.failed:
            return None
        by = " and ".join(self.libraries(be)) or be.name
        return (f"{' and '.join(self.failed)} refused the stream as corrupt; "
                f"{be.name}, on {by}, decoded it, but the stream may be damaged and the "
                "pixels wrong (frame_info(i).tried has each reason)")


def doomed(data: Any, info: Any, family: str, cands: Sequence[Backend]) -> str | None:
    """Why no capable backend can decode the frame, known before any runs.

    Only where measurement shows every such decoder fails: a JPEG 2000 or
    HTJ2K codestream cut short (a tile-part running past the data, or no EOC
    after complete tile-parts), when OpenJPEG is the only library of every
    candidate. OpenJPEG 2.3 (GDCM), 2.5.2 (pylibjpeg-openjpeg) and 2.5.4
    (imagecodecs, Pillow) all refuse such streams; OpenJPH (imagecodecs'
    reversible HTJ2K) decodes some of them, so a candidate on it keeps the
    frame going. JPEG and JPEG-LS are never judged here: libjpeg-turbo and
    Thomas Richter's libjpeg decode truncated scans (filling the rest).

    Returns
    -------
    str or None
        The reason, for the frame's DecodeError; None to decode as usual.
    """
    if family not in ("jpeg2k", "htj2k") or info is None or not cands:
        return None
    if getattr(info, "jp2", False):
        return None
    failures = LibraryFailures(family, info)
    if any(failures.libraries(be) != (OPENJPEG,) for be in cands):
        return None
    problem = codestream.j2k_cut_short(data)
    if problem is None:
        return None
    return (f"{problem}; every capable backend is built on OpenJPEG, which "
            "refuses such a stream")


def damaged(data: Any, family: str) -> str | None:
    """Why the frame's codestream is damaged although its decoders would not say so.

    A run of zero bytes in JPEG 2000 / HTJ2K coded data longer than the
    tile's packets and code-blocks explain
    (:func:`~dicomio.pixels.codestream.j2k_zero_run`): overwritten data that
    OpenJPEG reads as empty packets and OpenJPH often decodes without a word
    (its error, when it has one, imagecodecs only prints; the imagecodecs
    backend raises it), so every backend can return wrong pixels without an
    error. JPEG and JPEG-LS are not judged this way: zero runs
    are legitimate there (thousands of bytes in lossless JPEG of flat areas).

    Returns
    -------
    str or None
        The reason, for the frame's DamagedStreamError; None to decode.
    """
    if family not in ("jpeg2k", "htj2k"):
        return None
    run = codestream.j2k_zero_run(data)
    if run is None:
        return None
    return (f"the codestream is damaged: {run}. Its coded data were overwritten "
            "with zeros, which decoders read as empty packets: they return wrong "
            "pixels without an error (read with on_error='recover' to get them anyway)")
