"""Draw the pictures of the photometric guide (docs/photometric.md).

Each figure puts a naive decode of a real file next to what dicomio returns
for it. The files are pydicom's own test files (installed with pydicom); two
of them are relabelled in memory, the way a faulty converter or a careless
anonymiser leaves files in the wild. Nothing is downloaded.

    python tools/make_doc_figures.py            # writes docs/_static/*.png
    python tools/make_doc_figures.py --out DIR

Needs pydicom, imagecodecs and Pillow (all in ``dicomio[all]``).
"""

from __future__ import annotations

import argparse
import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

import dicomio

ROOT = Path(__file__).resolve().parents[1]
PANEL = 192  # pixels per side of each picture
PAD = 10
CAPTION = 34  # room under each picture for two lines of text


@dataclass
class Figure:
    """One picture of the guide: naive decode on the left, dicomio right."""

    filename: str
    source: str  # pydicom test file
    relabel: str | None  # Photometric Interpretation written over the real one
    naive_caption: str
    naive: Callable[[pydicom.Dataset, bytes], np.ndarray]


def _first_frame(ds: pydicom.Dataset) -> bytes:
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def _codec_guess(ds: pydicom.Dataset, raw: bytes) -> np.ndarray:
    # libjpeg-turbo's own guess: no JFIF/APP14/'RGB' IDs -> treat as YCbCr.
    return imagecodecs.jpeg8_decode(_first_frame(ds))


def _trust_header_rgb(ds: pydicom.Dataset, raw: bytes) -> np.ndarray:
    # A decoder that believes the RGB label asks the codec for the components
    # as stored, so the YCbCr samples come back untouched.
    return imagecodecs.jpeg8_decode(_first_frame(ds), colorspace="YCBCR",
                                    outcolorspace="YCBCR")


def _pydicom_pixel_array(ds: pydicom.Dataset, raw: bytes) -> np.ndarray:
    # pydicom follows the YBR label and ignores the Adobe APP14 marker.
    return pydicom.dcmread(io.BytesIO(raw)).pixel_array


FIGURES = [
    Figure(
        "naive-unmarked-rgb.png",
        "SC_jpeg_no_color_transform.dcm",
        None,
        "imagecodecs.jpeg8_decode\n(the codec guesses YCbCr)",
        _codec_guess,
    ),
    Figure(
        "naive-jfif-labelled-rgb.png",
        "SC_rgb_dcmtk_+eb+cy+np.dcm",
        "RGB",
        "trusting the RGB label\n(YCbCr shown as RGB)",
        _trust_header_rgb,
    ),
    Figure(
        "naive-app14-labelled-ybr.png",
        "SC_rgb_jpeg_app14_dcmd.dcm",
        "YBR_FULL_422",
        "pydicom pixel_array\n(trusts YBR_FULL_422)",
        _pydicom_pixel_array,
    ),
]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def _panel(arr: np.ndarray) -> Image.Image:
    img = Image.fromarray(np.ascontiguousarray(arr)).convert("RGB")
    # Nearest neighbour keeps hard edges and exact colours of small images.
    scale = PANEL / max(img.size)
    size = (round(img.width * scale), round(img.height * scale))
    method = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.BOX
    return img.resize(size, method)


def _load(fig: Figure) -> tuple[pydicom.Dataset, bytes]:
    path = get_testdata_file(fig.source)
    if path is None:
        raise SystemExit(f"pydicom test file {fig.source} is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
    if fig.relabel:
        ds.PhotometricInterpretation = fig.relabel
    buf = io.BytesIO()
    ds.save_as(buf)
    return ds, buf.getvalue()


def draw(fig: Figure) -> Image.Image:
    """Compose one figure: two captioned panels side by side."""
    ds, raw = _load(fig)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        naive = fig.naive(ds, raw)
        img = dicomio.DicomImage(raw)
        ours = img.read()
    report = img.photometric
    ours_caption = (f"dicomio: {report['output']}\n"
                    f"(stream says {report['codestream']})")
    panels = [(_panel(naive), fig.naive_caption), (_panel(ours), ours_caption)]
    width = PAD + sum(p.width + PAD for p, _ in panels)
    height = PAD + max(p.height for p, _ in panels) + CAPTION + PAD
    canvas = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(canvas)
    font = _font(11)
    x = PAD
    for picture, caption in panels:
        canvas.paste(picture, (x, PAD))
        pen.rectangle((x - 1, PAD - 1, x + picture.width, PAD + picture.height),
                      outline=(160, 160, 160))
        pen.multiline_text((x, PAD + picture.height + 5), caption, fill="black",
                           font=font, spacing=2)
        x += picture.width + PAD
    return canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_static")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for fig in FIGURES:
        target = args.out / fig.filename
        # An adaptive palette keeps the files a few kB; 256 colours are
        # plenty for flat test images and paper texture.
        draw(fig).quantize(colors=256, dither=Image.Dither.NONE).save(
            target, optimize=True)
        print(f"wrote {target} ({target.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
