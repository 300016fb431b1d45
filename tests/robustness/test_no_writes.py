"""Nothing is ever written next to the input."""

from __future__ import annotations

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage
from tests.robustness._hostile import (
    GREY16,
    _cut,
    make,
    snapshot,
)


# -------------------------------------------- nothing written next to it
def test_decompress_writes_only_its_destination(tmp_path):
    src_dir, dst_dir = tmp_path / "src", tmp_path / "dst"
    src_dir.mkdir()
    dst_dir.mkdir()
    good = src_dir / "good.dcm"
    good.write_bytes(make(GREY16, "JPEG2000Lossless"))
    bad = src_dir / "bad.dcm"
    bad.write_bytes(_cut("JPEG2000Lossless", 0.4)())
    before = snapshot(src_dir)
    dicomio.decompress(good, dst_dir / "good.dcm")
    with pytest.raises(dicomio.DecodeError):
        dicomio.decompress(bad, dst_dir / "bad.dcm")
    assert snapshot(src_dir) == before
    assert sorted(p.name for p in dst_dir.iterdir()) == ["good.dcm"]
    np.testing.assert_array_equal(DicomImage(dst_dir / "good.dcm").read(), GREY16)
