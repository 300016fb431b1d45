"""read_volume, read_series, stack_series (dicomio.series.volume)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from dicomio import series as S
from dicomio.errors import FrameIndexError, SeriesError
from tests._builders import (
    COLS,
    ROWS,
    pixels,
    write_ct,
    write_stack,
)


def test_read_volume_order_and_values(tmp_path: Path) -> None:
    _, _, truth = write_stack(tmp_path, 6)
    s = S.scan(tmp_path).series[0]
    assert s.shape == (6, ROWS, COLS) and s.dtype == np.uint16
    assert s.decoders == [None] * 6 and s.decoder is None
    assert s.photometric["declared"] == "MONOCHROME2"
    assert s.photometric["output"] is None
    vol = s.read(threads=3)
    for k in range(6):
        np.testing.assert_array_equal(vol[k], pixels(k))
    assert all(d for d in s.decoders) and s.decoder is not None
    assert all(p["output"] == "MONOCHROME2" for p in s.slice_photometric)
    assert s.photometric["output"] == "MONOCHROME2"
    assert not s.photometric["mismatch"]
    np.testing.assert_array_equal(s.slice(-1), pixels(5))
    np.testing.assert_array_equal(s.read(slice(1, 6, 2)),
                                  np.stack([pixels(1), pixels(3), pixels(5)]))
    with pytest.raises(FrameIndexError):
        s.read(6)
    with pytest.raises(IndexError):
        s.read([0, -7])


def test_stack_series_gives_4d(tmp_path: Path) -> None:
    uid = generate_uid()
    for t in (1, 2, 3):
        for k in range(2):
            write_ct(tmp_path / f"t{t}k{k}", index=10 * t + k, position=(0, 0, k),
                     series_uid=uid, TemporalPositionIdentifier=t)
    result = S.scan(tmp_path)
    arr = S.stack_series(result.groups()[uid])
    assert arr.shape == (3, 2, ROWS, COLS)
    assert arr[2, 1, 0, 0] == 31000


def test_read_volume_and_read_series(tmp_path: Path) -> None:
    uid_a, _, _ = write_stack(tmp_path, 3, number=1, description="A", prefix="a")
    write_stack(tmp_path, 2, number=2, description="B", prefix="b")
    with pytest.raises(SeriesError, match=r"holds 2 volumes[\s\S]*'A'[\s\S]*'B'"):
        S.read_volume(tmp_path)
    assert S.read_volume(tmp_path, series=0).shape == (3, ROWS, COLS)
    assert S.read_volume(tmp_path, series=uid_a).shape == (3, ROWS, COLS)
    with pytest.raises(SeriesError, match="no series 'nope'"):
        S.read_volume(tmp_path, series="nope")
    with pytest.raises(SeriesError, match="out of range"):
        S.read_volume(tmp_path, series=5)
    assert [s.description for s in S.read_series(tmp_path)] == ["A", "B"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme").write_text("nothing here")
    with pytest.raises(SeriesError, match=r"no image series.*1 not DICOM"):
        S.read_volume(empty)
