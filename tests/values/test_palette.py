"""PALETTE COLOR tables: plain, segmented, 16-bit entries, against pydicom."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.pixels import apply_color_lut

import dicomio
from dicomio.encode import make_dataset
from dicomio.values.palette import expand_segmented, palette

from ._reference import assert_close, palette_reference


def test_segmented_expansion_discrete_linear_indirect():
    # discrete [0, 10], linear to 20 in 2 steps, indirect: repeat the first segment
    words = np.array([0, 2, 0, 10, 1, 2, 20, 2, 1, 0, 0], np.uint16)
    assert expand_segmented(words) == [0, 10, 15, 20, 0, 10]


def test_segmented_expansion_refuses_nonsense():
    with pytest.raises(ValueError, match="linear segment comes first"):
        expand_segmented(np.array([1, 2, 5], np.uint16))
    with pytest.raises(ValueError, match="unknown segment type"):
        expand_segmented(np.array([0, 1, 5, 7, 1], np.uint16))


def _palette_ds(indices: np.ndarray, bits: int, segmented: bool, first: int = 0):
    n = 256
    ramp = np.arange(n)
    scale = 257 if bits == 16 else 1
    chans = {"Red": ramp * scale, "Green": (255 - ramp) * scale,
             "Blue": ((ramp * 7) % 256) * scale}
    ds = make_dataset(indices, "ExplicitVRLittleEndian", photometric="PALETTE COLOR")
    dtype = "<u2" if bits == 16 else np.uint8
    for name, vals in chans.items():
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [n, first, bits])
        if segmented:
            words = np.concatenate([[0, n], vals]).astype(dtype)
            # one discrete segment for the first half, a linear one to the end
            half = n // 2
            words = np.concatenate([[0, half], vals[:half], [1, n - half, vals[-1]]])
            data = words.astype(dtype).tobytes()
            setattr(ds, f"Segmented{name}PaletteColorLookupTableData", data)
        else:
            setattr(ds, f"{name}PaletteColorLookupTableData", vals.astype(dtype).tobytes())
    return ds


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("segmented", [False, True])
def test_generated_palettes_match_pydicom(bits, segmented):
    idx = np.random.default_rng(5).integers(0, 256, (2, 30, 20)).astype(np.uint8)
    ds = _palette_ds(idx, bits, segmented)
    img = dicomio.DicomImage(ds)
    ours = img.read(display=True)
    assert ours.shape == (2, 30, 20, 3)
    assert img.display_record["palette"] == {"entries": 256, "first": 0, "bits": bits,
                                             "segmented": segmented}
    if not segmented:
        assert_close(ours, palette_reference(ds, idx))
    ref = apply_color_lut(idx, ds)[..., :3].astype(np.float64)
    if bits == 16:
        ref *= 255 / 65535
    assert_close(ours, ref)


def test_first_mapped_value_clips_both_ends():
    idx = np.array([[0, 10, 11, 300, 400]], np.uint16)
    ds = _palette_ds(idx, 8, False, first=10)
    pal = palette(ds)
    out = dicomio.DicomImage(ds).read(display=True)
    assert np.array_equal(out[0, 0], out[0, 1])  # below first -> entry 0
    assert np.array_equal(out[0, 1], pal.table[0])
    assert np.array_equal(out[0, 2], pal.table[1])
    assert np.array_equal(out[0, 4], pal.table[-1])  # past the end -> last entry
    # pydicom agrees where its uint8 index arithmetic does not wrap (idx - first < 256)
    ref = apply_color_lut(idx[:, :3], ds)[..., :3].astype(np.float64)
    assert_close(out[:, :3], ref)


def test_sixteen_bit_segmented_corpus_file(corpus):
    img = dicomio.DicomImage(str(corpus("gdcm-US-ALOKA-16.dcm")))
    raw = img.read()
    out = img.read(display=True)
    assert img.display_record["palette"]["segmented"] is True
    assert img.display_record["palette"]["bits"] == 16
    assert_close(out, palette_reference(img.dataset, raw))
    assert len(np.unique(out.reshape(-1, 3), axis=0)) > 10
