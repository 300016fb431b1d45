"""JPEG 2000 / HTJ2K frames whose coded data were overwritten with zeros.

Each file is written by dicomio's own encoder (:func:`dicomio.encode.make_dataset`)
and then one frame's codestream gets a run of zero bytes where its coded data
are: in the middle, over whole 512-byte blocks (a lost disk sector), or just
before the EOC marker. OpenJPEG reads the zeros as empty packets and OpenJPH
reports its error through a callback imagecodecs ignores (dicomio's
imagecodecs backend raises it), so the decoders return wrong pixels without
an error. Shared by tests/pixels, tests/image and
the doors' tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.robustness._hostile import Encapsulated, make

#: The syntaxes the check covers (Part 1 and HTJ2K, lossless and lossy).
SYNTAXES = ("JPEG2000Lossless", "JPEG2000", "HTJ2KLossless", "HTJ2KLosslessRPCL",
            "HTJ2K")
DEFECTS = ("middle", "sector", "tail")

_RNG = np.random.default_rng(15)
_Y, _X = np.mgrid[:256, :256]
#: 3 frames of 256 x 256, 12 bits stored: a slope plus noise (every code-block
#: holds data, so any zeroed kilobyte is coded data).
FRAMES = np.stack([((_X * 23 + _Y * (11 + k)) % 3800
                    + _RNG.integers(0, 200, (256, 256))).astype(np.uint16)
                   for k in range(3)])


def run_length(syntax: str, defect: str) -> int:
    """How many bytes a defect zeroes.

    HTJ2K coded data can legally hold a code-block's worth of zero bits
    (its MagSgn bits are raw), so its damage must be longer to be judged:
    three sectors instead of one, and 1536 bytes before the EOC.
    """
    ht = syntax.startswith("HTJ2K")
    return {"middle": 4096, "sector": 1536 if ht else 512,
            "tail": 1536 if ht else 300}[defect]


def zero(cs: bytes, syntax: str, defect: str) -> tuple[bytes, int, int]:
    """``cs`` with the defect: ``(codestream, first zeroed byte, count)``."""
    n = len(cs)
    size = run_length(syntax, defect)
    if defect == "middle":
        start = n // 2 - size // 2
    elif defect == "sector":
        start = (n // 2) // 512 * 512
    else:  # the bytes right before EOC (FF D9)
        assert cs[-2:] == b"\xff\xd9"
        start = n - 2 - size
    out = bytearray(cs)
    out[start : start + size] = bytes(size)
    return bytes(out), start, size


def zeroed_file(syntax: str, defect: str, frame: int = 1,
                frames: np.ndarray = FRAMES, **kwargs: object) -> tuple[bytes, bytes, int]:
    """A file of ``frames`` whose frame ``frame`` has the defect.

    Returns ``(file bytes, the damaged codestream, first zeroed byte)``.
    """
    if frames.dtype == np.uint16:
        kwargs.setdefault("bits_stored", 12)
    enc = Encapsulated.parse(make(frames, syntax, **kwargs))
    cs = enc.fragments[frame]
    if cs.endswith(b"\xff\xd9\x00"):  # the even-length padding
        cs = cs[:-1]
    bad, start, _size = zero(cs, syntax, defect)
    enc.fragments[frame] = bad + b"\x00" * (len(bad) % 2)
    enc.bot = b""
    return enc.build(), bad, start


def zeroed_path(folder: Path, syntax: str, defect: str) -> tuple[Path, bytes]:
    """:func:`zeroed_file` written to ``folder / "zeroed.dcm"``: ``(path,
    the damaged codestream)``."""
    data, bad, _start = zeroed_file(syntax, defect)
    path = folder / "zeroed.dcm"
    path.write_bytes(data)
    return path, bad
