"""``Series.read(on_error=...)``: a slice that fails, a file that is cut."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import dicomio
from dicomio import DicomioWarning
from dicomio import series as S
from tests._builders import pixels, write_stack


def _cut_one(tmp_path: Path) -> tuple[S.Series, int]:
    _, _, truth = write_stack(tmp_path, 4)
    victim = next(p for p, k in truth.items() if k == 2)
    data = Path(victim).read_bytes()
    Path(victim).write_bytes(data[: len(data) - 50])  # cut inside Pixel Data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        found = S.scan(tmp_path).series[0]
    return found, 2


def _says(caught, pattern: str) -> bool:
    return any(re.search(pattern, str(w.message)) for w in caught)


def test_a_cut_slice_fails_the_read_by_default(tmp_path):
    s, k = _cut_one(tmp_path)
    with pytest.warns(DicomioWarning, match="truncated"), \
            pytest.raises(dicomio.TruncatedError, match="50 of its"):
        s.read()


def test_fill_recover_and_skip(tmp_path):
    s, k = _cut_one(tmp_path)
    rows = s.shape[1]
    with pytest.warns(DicomioWarning) as caught:
        vol = s.read(on_error="fill")
    assert _says(caught, r"1 of 4 slices failed; 1 were filled with 0: 2 "
                 r"\(see failed_slices")
    assert vol.shape[0] == 4 and not vol[k].any()
    for j in (0, 1, 3):
        np.testing.assert_array_equal(vol[j], pixels(j))
    assert list(s.failed_slices) == [k] and s.failed_slices[k].action == "filled"
    with pytest.warns(DicomioWarning) as caught:
        rec = s.read(rescale=True, on_error="recover")
    assert _says(caught, "recovered")
    first, stop = s.failed_slices[k].missing_rows
    assert stop == rows and 0 < first < rows
    assert not rec[k, first:].any() and rec[k, :first].any()
    with pytest.warns(DicomioWarning) as caught:
        kept = s.read(on_error="skip")
    assert _says(caught, "left out: 2")
    assert kept.shape[0] == 3
    np.testing.assert_array_equal(kept[2], pixels(3))
    # A good read clears the record.
    s.read([0, 1])
    assert s.failed_slices == {}


def test_an_unreadable_file_fails_its_slices(tmp_path):
    _, _, truth = write_stack(tmp_path, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DicomioWarning)
        s = S.scan(tmp_path).series[0]
    victim = next(p for p, k in truth.items() if k == 1)
    Path(victim).write_bytes(b"not any more")
    with pytest.raises(dicomio.DicomioError):
        s.read()
    with pytest.warns(DicomioWarning, match="1 were left out: 1"):
        assert s.read(on_error="skip").shape[0] == 2
    assert str(victim) in s.failed_slices[1].error


def test_display_takes_on_error(tmp_path):
    s, k = _cut_one(tmp_path)
    with pytest.warns(DicomioWarning, match="truncated"), \
            pytest.raises(dicomio.TruncatedError):
        s.read(display=True)
    with pytest.warns(DicomioWarning) as caught:
        shown = s.read(display=True, window=(1100, 256), on_error="recover")
    said = [str(w.message) for w in caught if "slices failed" in str(w.message)]
    assert len(said) == 1 and "1 of 4 slices failed; 1 are incomplete" in said[0]
    assert list(s.failed_slices) == [k] and s.failed_slices[k].action == "recovered"
    first, stop = s.failed_slices[k].missing_rows
    assert shown.dtype == np.uint8 and shown.shape[0] == 4
    # The slices that are whole look as they do alone; the cut one keeps its rows.
    for j in (0, 1, 3):
        path, frame = s.slices[j]
        with dicomio.DicomImage(path) as img:
            np.testing.assert_array_equal(
                shown[j], img.read(frame, display=True, window=(1100, 256)))
    assert shown[k, :first].std() > 0 and len(np.unique(shown[k, first:])) == 1
    with pytest.raises(ValueError, match="not 'skip'"):
        s.read(display=True, on_error="skip")
