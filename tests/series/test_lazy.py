"""Lazy reading: picklable per-slice tasks (dicomio.series.lazy)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from dicomio import series as S
from tests._builders import (
    pixels,
    write_stack,
)


def test_slice_tasks_are_picklable_and_match_read(tmp_path: Path) -> None:
    write_stack(tmp_path, 3, rescale=(2.0, 1.0))
    s = S.scan(tmp_path).series[0]
    tasks = s.slice_tasks(rescale=True)
    vol = s.read(rescale=True)
    for k, task in enumerate(tasks):
        out = pickle.loads(pickle.dumps(task))()
        assert out.dtype == vol.dtype
        np.testing.assert_array_equal(out, vol[k])
    path, frame = s.slices[1]
    np.testing.assert_array_equal(S.read_slice(path, frame), pixels(1))
