"""Encode arrays as DICOM codestreams, datasets and files.

The encoding side of dicomio: tests, the bundled samples, the imageio writer
and the benchmarks use it to produce data in every Transfer Syntax dicomio
decodes (video excepted).

* :func:`encode_frame` turns one frame into the bytes of one frame for a
  Transfer Syntax (a codestream for the compressed ones).
* :func:`encode_frames` does the same for a stack of frames.
* :func:`make_dataset` builds a complete Secondary Capture
  :class:`pydicom.dataset.Dataset` whose Image Pixel attributes match the
  encoded data.
* :func:`write` saves such a dataset atomically; :func:`save_dataset` and
  :func:`dataset_bytes` also write the Transfer Syntaxes pydicom 3.0 cannot
  (Deflated Image Frame Compression and JPEG XL), so use them rather than
  ``Dataset.save_as``. All three go through :func:`write_dataset_to`, which
  also writes any dataset pydicom read (odd elements resolved, written as UN
  or dropped, each with a warning; preamble and File Meta always written).

Arrays are ``(rows, cols)`` or ``(rows, cols, samples)`` per frame. Colour input
is always given as the samples to encode; where the codec itself performs the
colour transform the Photometric Interpretation names (JPEG ``YBR_FULL`` /
``YBR_FULL_422``, JPEG 2000 ``YBR_RCT`` / ``YBR_ICT``), the input is RGB.

Meaning of ``level`` per codec family (``None`` picks the default in brackets):

=================================  ==========================================
Deflated Image Frame (1.2.8.1)     zlib level 0-9 [9]
JPEG baseline / extended           quality 1-100 [90]
JPEG lossless                      ignored (``predictor=`` selects 1-7 [1])
JPEG-LS                            NEAR, the maximum error [0 for .80, 2 for .81]
JPEG 2000 lossy                    target PSNR in dB [50]
HTJ2K lossy                        quantization step in (0, 1] of Bits Stored's
                                   full scale [0.01]
JPEG XL lossy                      quality 0-100 [90]
=================================  ==========================================

Facts the encoders rely on (imagecodecs 2026.3.6, pyjpegls 1.5.1):

* Deflated Image Frame Compression (PS3.5 A.4.13) is *raw* deflate
  (RFC 1951, no zlib header or Adler-32 trailer) of each frame's native
  little-endian bytes, one fragment per frame, padded to even length.
* ``jpeg8_encode`` (libjpeg-turbo 3) writes 12-bit lossy JPEG (SOF1) with
  ``bitspersample=12`` and lossless JPEG (SOF3) at 2-16 bits with
  ``lossless=True, predictor=n``.
* ``jpegls_encode`` writes the container precision (8 or 16 bits) and a SPIFF
  header; the SPIFF header is removed here and other precisions go through
  pyjpegls (``jpeg_ls.encode_buffer``), so the codestream precision always
  equals Bits Stored.
* ``htj2k_encode`` (OpenJPH) has no precision option: it codes the
  container's 8, 16 or 32 bits (``C``), and SIZ is rewritten to Bits Stored
  ``B`` after coding, so HTJ2K keeps Bits Stored (12-bit stays 12-bit). For
  reversible coding the SIZ precision only sets the DC level shift, so
  unsigned samples are offset by ``2**(C-1) - 2**(B-1)``. Irreversible step
  sizes are relative to the SIZ precision, so lossy samples are scaled by
  ``2**(C-B)``; the ``level`` step is then a fraction of ``2**B``. Its
  default progression order is RPCL; ``tlm=True`` adds TLM markers.
* ``jpeg8_encode`` codes lossy JPEG at 8 or 12 bits only: Bits Stored 9-11
  is written as 12 and 1-7 as 8 (the values are unchanged; PS3.5 8.2.1 wants
  the header to match the codestream).
* ``jpeg2k_encode`` writes JPEG 2000 Part 1 codestreams. No installed encoder
  writes Part 2 multi-component transforms, so JPEG 2000 Part 2 (.92 / .93)
  streams are Part 1 codestreams (RCT / ICT for colour), which Part 2
  decoders read.
* ``dicomrle_encode`` is not implemented in imagecodecs; RLE is encoded here
  (PS3.5 Annex G).
* JPEG XL has no signed integers; signed data is refused for JPEG XL.
* Signed data in JPEG lossless and JPEG-LS is the two's complement bit
  pattern masked to Bits Stored. Near-lossless JPEG-LS errors are bounded in
  that bit pattern, so values within NEAR of either end of the signed range
  would flip sign: such data is refused.
* imagecodecs' ``htj2k_decode`` does not clamp lossy reconstructions: at the
  container precision values overshooting the range wrap around (255 -> 0),
  at 12 bits in 16 they exceed it (4095 -> 4096); pylibjpeg-openjpeg clamps.
  Lossy HTJ2K should be checked with the latter.
* pydicom's ``generate_uid(prefix=None, entropy_srcs=...)`` ignores the
  entropy sources (random UUID); :func:`uid_from` makes reproducible UIDs.

The package has one module per job: ``plan.py`` (what a Transfer Syntax can
code and how: options, bit depth, lossy level, Photometric Interpretation),
``codecs.py`` (one encoder per codec family, :func:`encode_frame`),
``rle.py`` (the RLE / PackBits encoder), ``retired.py`` (the retired JPEG
syntaxes, re-coded by libjpeg-turbo's ``jpegtran``), ``dataset.py``
(:func:`make_dataset`), ``files.py`` (:func:`write`, :func:`dataset_bytes`,
:func:`save_dataset`, :func:`write_dataset_to`), ``sanitize.py`` (what makes
an odd dataset writable), ``decompress.py``, ``transcode.py``
(:func:`transcode`: any file to any syntax, header kept), ``folder.py`` (a
folder transcoded into a complete copy of the archive: other DICOM objects
copied, DICOMDIRs updated) and ``atomic.py``.
"""

from __future__ import annotations

from . import plan as _plan_module
from .codecs import encode_frame, encode_frames
from .dataset import IMPLEMENTATION_CLASS_UID as IMPLEMENTATION_CLASS_UID
from .dataset import IMPLEMENTATION_VERSION_NAME as IMPLEMENTATION_VERSION_NAME
from .dataset import make_dataset, uid_from
from .files import dataset_bytes, save_dataset, write, write_dataset_to
from .plan import default_photometric
from .rle import rle_encode_frame

__all__ = [
    "encode_frame",
    "encode_frames",
    "make_dataset",
    "write",
    "save_dataset",
    "dataset_bytes",
    "write_dataset_to",
    "rle_encode_frame",
    "default_photometric",
    "uid_from",
    "LOSSLESS_ENCODABLE",
    "LOSSY_ENCODABLE",
    "ENCODABLE",
    "DECODE_ONLY",
    "ENCODER_OPTIONS",
]

# The constants live in plan.py; they are assigned here so that their
# documentation comments, which Sphinx reads from this module, stay with them.

#: Lossless-only Transfer Syntax keywords :func:`encode_frame` supports.
LOSSLESS_ENCODABLE: tuple[str, ...] = _plan_module.LOSSLESS_ENCODABLE

#: Transfer Syntax keywords that allow lossy coding and that
#: :func:`encode_frame` supports (lossy by default; ``lossless=True`` codes
#: the lossless variant where the codec has one).
LOSSY_ENCODABLE: tuple[str, ...] = _plan_module.LOSSY_ENCODABLE

#: Every Transfer Syntax keyword :func:`encode_frame` supports.
ENCODABLE: tuple[str, ...] = _plan_module.ENCODABLE

#: Transfer Syntaxes dicomio decodes (or names in errors) but cannot encode,
#: keyword -> why (the retired JPEG processes; see :mod:`dicomio.encode.retired`).
DECODE_ONLY: dict[str, str] = _plan_module.DECODE_ONLY

#: Codec options accepted by :func:`encode_frame` (and routed by
#: :func:`make_dataset`): see :func:`encode_frame`.
ENCODER_OPTIONS: tuple[str, ...] = _plan_module.ENCODER_OPTIONS
