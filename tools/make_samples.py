#!/usr/bin/env python
"""Generate the bundled sample files ``src/dicomio/samples/*.dcm``.

One small file per Transfer Syntax dicomio can encode, named by keyword, plus
``MANIFEST.json``. The retired JPEG syntaxes are written by
``dicomio.encode.retired``, which needs libjpeg-turbo's ``jpegtran``
(Debian ``libjpeg-turbo-progs``, in tools/system-deps.sh). The output is deterministic: the phantoms are integer
arithmetic (``dicomio.samples._phantom``), UIDs derive from the sample name,
dates are fixed. Running the tool twice with the same library versions gives
identical bytes; the versions are recorded in the manifest.

Usage::

    python tools/make_samples.py            # rewrite src/dicomio/samples
    python tools/make_samples.py --out DIR  # write elsewhere
    python tools/make_samples.py --check    # exit 1 if the committed files differ
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
from pydicom.encaps import generate_frames  # noqa: E402

from dicomio import encode  # noqa: E402
from dicomio.samples import _phantom  # noqa: E402
from dicomio.tsyntax import lookup  # noqa: E402

SAMPLE_DIR = ROOT / "src" / "dicomio" / "samples"
MANIFEST = "MANIFEST.json"
STUDY_DATE, STUDY_TIME = "20240102", "120000"
STUDY_UID = encode.uid_from("dicomio-samples", "study")


def versions() -> dict[str, str]:
    """Versions of the libraries whose output ends up in the files.

    (numpy is not one: the phantoms are exact integer arithmetic.)
    """
    import imagecodecs

    out = {
        "pydicom": pydicom.__version__,
        "imagecodecs": imagecodecs.__version__,
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }
    try:
        import av

        out["av"] = av.__version__
        out["libavcodec"] = ".".join(map(str, av.library_versions["libavcodec"]))
    except ImportError:  # pragma: no cover
        out["av"] = "missing"
    out["jpegtran"] = _jpegtran_version()
    try:
        import jpeg_ls

        out["pyjpegls"] = str(getattr(jpeg_ls, "__version__", "?"))
    except ImportError:  # pragma: no cover
        out["pyjpegls"] = "missing"
    return out


def _jpegtran_version() -> str:
    """libjpeg-turbo's version as ``jpegtran -version`` prints it."""
    import shutil
    import subprocess

    exe = shutil.which("jpegtran")
    if exe is None:  # pragma: no cover
        return "missing"
    done = subprocess.run([exe, "-version"], capture_output=True, text=True,
                          check=False)
    return (done.stderr or done.stdout).strip().splitlines()[0]


def dataset(keyword: str) -> pydicom.Dataset:
    """Build the sample dataset for ``keyword``."""
    spec = _phantom.spec(keyword)
    index = [s["keyword"] for s in _phantom.SAMPLES].index(keyword)
    if "video" in spec:
        # Video: PyAV encodes, dicomio.encode.video wraps the stream.
        from dicomio.encode import video

        return video.make_video_dataset(
            _phantom.source(keyword), keyword, **spec["video"],
            **_common(keyword, spec, index), **spec["dataset"])
    if spec.get("retired"):
        # Retired JPEG: baseline (lossless) JPEG re-coded by jpegtran and/or
        # given a DHP segment (dicomio.encode.retired), or a stream of the
        # test suite's own T.81 writer (lossless arithmetic coding).
        from dicomio.encode.retired import make_retired_dataset

        stream = _written(keyword, spec) if spec.get("writer") else None
        return make_retired_dataset(
            _phantom.source(keyword), keyword,
            multiframe=spec.get("frames") is not None,
            recode=None if stream is None else (lambda _old: stream),
            **_common(keyword, spec, index), **spec["dataset"])
    return encode.make_dataset(
        _phantom.source(keyword),
        keyword,
        multiframe=spec.get("frames") is not None,
        **_common(keyword, spec, index),
        **spec["dataset"],
    )


def _written(keyword: str, spec: dict[str, Any]) -> bytes:
    """The stream tests/_jpegwriter writes for a lossless arithmetic sample."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests._jpegwriter.streams import hierarchical_lossless, lossless_stream

    image, bits = _phantom.source(keyword), spec["bits"]
    if lookup(keyword).keyword == "JPEGLosslessHierarchical29":
        return hierarchical_lossless(image, bits, predictor=1,
                                     expansions=((0, 1), (1, 0)), arithmetic=True)
    return lossless_stream(image, bits, predictor=1, arithmetic=True)


def _common(keyword: str, spec: dict[str, Any], index: int) -> dict[str, Any]:
    return dict(
        uid_seed=f"dicomio-samples/{keyword}",
        study_instance_uid=STUDY_UID,
        study_date=STUDY_DATE,
        study_time=STUDY_TIME,
        study_description="dicomio synthetic samples",
        series_number=index + 1,
        series_description=spec["description"],
        patient_name="Dicomio^Phantom",
        patient_id="DICOMIO-PHANTOM",
    )


def expected_pixels(keyword: str) -> np.ndarray:
    """The array a reader should return (1-bit masks as uint8 0/1)."""
    arr = _phantom.source(keyword)
    return arr.astype(np.uint8) if arr.dtype == np.bool_ else arr


def sha256(arr: np.ndarray) -> str:
    """SHA-256 of the C-ordered little-endian bytes of ``arr``."""
    data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return hashlib.sha256(data.tobytes()).hexdigest()


# -- reference decoding (never dicomio's own decoder) -----------------------------


def _frames(ds: pydicom.Dataset) -> list[bytes]:
    n = int(ds.get("NumberOfFrames", 1) or 1)
    return list(generate_frames(ds.PixelData, number_of_frames=n))


def _shape(ds: pydicom.Dataset) -> tuple[int, ...]:
    shape: tuple[int, ...] = (ds.Rows, ds.Columns)
    if ds.SamplesPerPixel > 1:
        shape += (ds.SamplesPerPixel,)
    return shape


def _stack(ds: pydicom.Dataset, frames: list[np.ndarray]) -> np.ndarray:
    if "NumberOfFrames" in ds and int(ds.NumberOfFrames) > 1:
        return np.stack(frames)
    return frames[0]


def _signed(ds: pydicom.Dataset, arr: np.ndarray) -> np.ndarray:
    """Apply Pixel Representation to unsigned codec output (two's complement)."""
    if not ds.PixelRepresentation or arr.dtype.kind == "i":
        return arr
    bits = int(ds.BitsStored)
    out = arr.astype(np.int64)
    out = np.where(out >= 1 << (bits - 1), out - (1 << bits), out)
    return out.astype(f"i{ds.BitsAllocated // 8}")


def _native_frame(ds: pydicom.Dataset, raw: bytes) -> np.ndarray:
    """One frame from its uncompressed little-endian bytes (1-bit: packed)."""
    shape = _shape(ds)
    count = int(np.prod(shape))
    if ds.BitsAllocated == 1:
        bits = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")
        return bits[:count].reshape(shape)
    kind = "i" if ds.PixelRepresentation else "u"
    dtype = np.dtype(f"<{kind}{ds.BitsAllocated // 8}")
    return np.frombuffer(raw, dtype, count=count).reshape(shape)


def reference_decode(ds: pydicom.Dataset) -> np.ndarray:
    """Decode ``ds`` with a decoder independent of dicomio's.

    pydicom's ``pixel_array`` where pydicom 3.0 supports the syntax (colour
    returned as RGB); otherwise the frames are taken apart with pydicom and
    decoded with zlib (Deflated Image Frame), numpy (encapsulated
    uncompressed), pylibjpeg-openjpeg (JPEG 2000 Part 2 syntaxes) or
    imagecodecs' libjxl (JPEG XL). HTJ2K lossy goes through pylibjpeg-openjpeg
    (pydicom) because imagecodecs' htj2k_decode wraps lossy overshoots around.
    """
    kw = lookup(ds.file_meta.TransferSyntaxUID).keyword
    if lookup(kw).family == "video":
        return _video_decode(ds)
    if lookup(kw).retired:
        return _stack(ds, [_retired_decode(ds, f) for f in _frames(ds)])
    if kw == "DeflatedImageFrameCompression":
        return _stack(ds, [_native_frame(ds, zlib.decompress(f, wbits=-15))
                           for f in _frames(ds)])
    if kw == "EncapsulatedUncompressedExplicitVRLittleEndian":
        return _stack(ds, [_native_frame(ds, f) for f in _frames(ds)])
    if kw in ("JPEG2000MCLossless", "JPEG2000MC"):
        import openjpeg

        return _stack(ds, [_signed(ds, openjpeg.decode(f)) for f in _frames(ds)])
    if kw in ("JPEGXLLossless", "JPEGXL", "JPEGXLJPEGRecompression"):
        import imagecodecs

        return _stack(ds, [_signed(ds, imagecodecs.jpegxl_decode(f))
                           for f in _frames(ds)])
    return ds.pixel_array


def _retired_decode(ds: pydicom.Dataset, frame: bytes) -> np.ndarray:
    """One frame of a retired JPEG syntax, which pydicom 3.0 refuses.

    libjpeg-turbo (imagecodecs) for arithmetic and progressive streams;
    Thomas Richter's libjpeg (pylibjpeg-libjpeg) for hierarchical and
    lossless arithmetic (SOF11) ones, which libjpeg-turbo refuses. Colour (YCbCr) comes back as RGB.
    """
    head = frame[: frame.find(b"\xff\xda")]
    if b"\xff\xde" in head or b"\xff\xcb" in head:  # hierarchical, SOF11
        import libjpeg

        return _signed(ds, libjpeg.decode(frame, 1 if ds.SamplesPerPixel > 1 else 0))
    import imagecodecs

    if ds.SamplesPerPixel > 1:
        return imagecodecs.jpeg8_decode(frame, colorspace="YCBCR", outcolorspace="RGB")
    return _signed(ds, imagecodecs.jpeg8_decode(frame))


def _video_decode(ds: pydicom.Dataset) -> np.ndarray:
    """Decode a video sample with PyAV alone (its colour defaults; chroma replicated)."""
    import av

    stream = b"".join(generate_frames(ds.PixelData, number_of_frames=1))
    wide = int(ds.BitsStored) > 8
    with av.open(io.BytesIO(stream)) as container:
        frames = [f.to_ndarray(format="rgb48le" if wide else "rgb24",
                               interpolation="POINT") for f in container.decode(video=0)]
    arr = np.stack(frames)
    if wide:  # 16-bit RGB rounded to 10 bits
        arr = np.minimum((arr.astype(np.uint32) + 32) >> 6, 1023).astype(np.uint16)
    return arr


def psnr(reference: np.ndarray, decoded: np.ndarray, bits: int) -> float:
    """Peak signal-to-noise ratio in dB for ``bits``-bit data."""
    diff = reference.astype(np.float64) - decoded.astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0:
        return float("inf")
    return 10 * np.log10(((1 << bits) - 1) ** 2 / mse)


# -- generation -------------------------------------------------------------------


def build(out_dir: Path) -> list[dict[str, Any]]:
    """Write every sample and ``MANIFEST.json`` into ``out_dir``; return entries."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in _phantom.SAMPLES:
        keyword = spec["keyword"]
        ts = lookup(keyword)
        ds = dataset(keyword)
        data = encode.dataset_bytes(ds)
        name = f"{keyword}.dcm"
        (out_dir / name).write_bytes(data)
        arr = expected_pixels(keyword)
        lossless = "LossyImageCompression" not in ds
        entry: dict[str, Any] = {
            "file": name,
            "transfer_syntax_uid": ts.uid,
            "keyword": keyword,
            "description": spec["description"],
            "shape": list(arr.shape),
            "dtype": str(arr.dtype),
            "frames": int(ds.get("NumberOfFrames", 1)),
            "rows": int(ds.Rows),
            "columns": int(ds.Columns),
            "samples_per_pixel": int(ds.SamplesPerPixel),
            "bits_allocated": int(ds.BitsAllocated),
            "bits_stored": int(ds.BitsStored),
            "pixel_representation": int(ds.PixelRepresentation),
            "photometric": str(ds.PhotometricInterpretation),
            "lossless": lossless,
            "size": len(data),
        }
        if ts.encapsulated:
            entry["offset_table"] = (
                "extended" if "ExtendedOffsetTable" in ds else "basic")
        if lossless:
            entry["sha256"] = sha256(arr)
        else:
            read = pydicom.dcmread(io.BytesIO(data))
            bits = int(ds.BitsStored)
            entry["psnr_db"] = round(psnr(arr, reference_decode(read), bits), 1)
        entries.append(entry)
    manifest = {
        "generator": "tools/make_samples.py",
        "versions": versions(),
        "notes": (
            "shape is what a reader returns: (rows, cols[, samples]) or "
            "(frames, rows, cols[, samples]); colour as RGB; 1-bit as uint8 0/1. "
            "sha256 is over the little-endian C-order bytes of that array "
            "(lossless samples only). psnr_db: lossy samples, measured with an "
            "independent decoder against the source array."
        ),
        "samples": entries,
    }
    text = json.dumps(manifest, indent=1, sort_keys=False) + "\n"
    (out_dir / MANIFEST).write_text(text, encoding="utf-8")
    return entries


def compare(a: Path, b: Path) -> list[str]:
    """Names of generated files that differ between two directories."""
    names = [f"{s['keyword']}.dcm" for s in _phantom.SAMPLES] + [MANIFEST]
    return [n for n in names
            if not (a / n).is_file() or not (b / n).is_file()
            or (a / n).read_bytes() != (b / n).read_bytes()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR,
                        help="output directory (default: src/dicomio/samples)")
    parser.add_argument("--check", action="store_true",
                        help="regenerate into a temporary directory and compare")
    args = parser.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
            diff = compare(Path(tmp), args.out)
        if diff:
            print("differ:", ", ".join(diff))
            return 1
        print(f"{len(_phantom.SAMPLES)} samples identical")
        return 0
    entries = build(args.out)
    for e in entries:
        quality = "lossless" if e["lossless"] else f"PSNR {e['psnr_db']} dB"
        print(f"{e['file']:56s} {e['size']:6d} B  {quality}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
