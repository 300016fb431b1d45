"""``import dicomio`` stays light, and the imageio plugin still registers.

The import-time budget (at most 1.2x ``import pydicom, numpy``) is measured
by ``benchmarks/bench_import.py``; here the rule behind it is checked: dicomio
imports none of the heavy optional libraries that pydicom and numpy do not
already import themselves.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

HEAVY = ["imageio", "dask", "distributed", "napari", "npe2", "qtpy", "PyQt5",
         "PyQt6", "PySide6", "imagecodecs", "requests", "PIL", "pylibjpeg", "gdcm",
         "jpeg_ls", "skimage", "tqdm"]


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_import_adds_no_heavy_module_to_what_pydicom_and_numpy_import() -> None:
    out = _python(f"""
        import sys
        import pydicom, numpy
        before = {{m.split(".")[0] for m in sys.modules}}
        import dicomio
        added = {{m.split(".")[0] for m in sys.modules}} - before
        print(sorted(added & set({HEAVY!r})))
    """)
    assert out.strip() == "[]"


@pytest.mark.parametrize(("first", "second"), [
    ("dicomio", "imageio.v3"),
    ("imageio.v3", "dicomio"),
    ("dicomio.imageio_plugin", "imageio.v3"),  # the plugin imports imageio itself
])
def test_imageio_picks_dicomio_whatever_the_import_order(first: str,
                                                         second: str) -> None:
    pytest.importorskip("imageio")
    out = _python(f"""
        import shutil, sys, tempfile
        import {first}
        assert ("imageio" in sys.modules) == ({first!r} != "dicomio")
        import {second}
        import imageio, imageio.v3 as iio
        from dicomio import samples
        path = samples.path("JPEG2000Lossless")
        bare = tempfile.mkdtemp() + "/IM0001"  # no extension: fallback order
        shutil.copy(path, bare)
        print(list(imageio.config.known_plugins)[0])
        print(iio.imread(path).shape, iio.imread(bare).shape)
        print(iio.improps(path).shape)
        # imageio's own loader is left in place (importlib.resources uses it).
        print(type(imageio.__spec__.loader).__name__)
    """)
    assert out.split("\n")[:4] == ["dicomio", "(2, 64, 64) (2, 64, 64)",
                                   "(2, 64, 64)", "SourceFileLoader"]
