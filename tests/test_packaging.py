"""The wheel: what it holds, what its extras pull in, and a clean install.

Builds the wheel the way a release does (``pip wheel . --no-deps``), then
installs it into a fresh virtual environment with only its core
dependencies, from the package index, and runs the command line there. That
catches what an editable install hides: files missing from the wheel, a
dependency only the test environment happens to have, an import of an
optional library at import time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

#: Backend packages that may never come in through the core dependencies.
OPTIONAL = {"pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg",
            "pylibjpeg-rle", "python-gdcm", "pillow", "pyjpegls", "imageio",
            "napari", "dask", "distributed", "av"}
QT_BINDINGS = {"pyqt5", "pyqt6", "pyside2", "pyside6", "pyside6-essentials"}


def _run(cmd: list[str], *, timeout: float, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-w", out,
          "-q", "--disable-pip-version-check"], timeout=300)
    wheels = list(out.glob("dicomio-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def metadata(wheel: Path) -> dict[str, list[Requirement]]:
    """Requirements of the wheel, per extra ("" for the core)."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode())
    extras: dict[str, list[Requirement]] = {"": []}
    for extra in meta.get_all("Provides-Extra") or []:
        extras[extra] = []
    for line in meta.get_all("Requires-Dist") or []:
        req = Requirement(line)
        owner = ""
        if req.marker is not None:
            for extra in extras:
                if extra and req.marker.evaluate({"extra": extra}):
                    extras[extra].append(req)
            continue
        extras[owner].append(req)
    return extras


def _names(reqs: list[Requirement]) -> set[str]:
    return {r.name.lower() for r in reqs}


def test_wheel_contents(wheel: Path) -> None:
    from dicomio import samples

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert len(names) == len(set(names)), "a file is in the wheel twice"
        assert "dicomio/py.typed" in names
        assert "dicomio/napari.yaml" in names
        assert "dicomio/__main__.py" in names
        assert "dicomio/samples/MANIFEST.json" in names
        for item in samples.manifest():
            assert f"dicomio/samples/{item['file']}" in names, item["file"]
        manifest_yaml = zf.read("dicomio/napari.yaml").decode()
        assert "dicomio.get_reader" in manifest_yaml
        entry_points = zf.read(next(
            n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "dicomio = dicomio.cli:main" in entry_points
    assert "[napari.manifest]" in entry_points
    assert "dicomio = dicomio:napari.yaml" in entry_points
    # Nothing of the repository beyond the package.
    assert not [n for n in names if n.startswith(("tests/", "docs/", "tools/"))]


def test_core_dependencies_are_the_core(
        metadata: dict[str, list[Requirement]]) -> None:
    core = _names(metadata[""])
    assert {"numpy", "pydicom", "imagecodecs"} <= core
    assert not core & (OPTIONAL | QT_BINDINGS)


def test_extras(metadata: dict[str, list[Requirement]]) -> None:
    for extra in ("pylibjpeg", "pylibjpeg-gpl", "gdcm", "pillow", "jpegls",
                  "imageio", "dask", "napari", "web", "all"):
        assert extra in metadata, f"extra [{extra}] is missing"
    assert "python-gdcm" in _names(metadata["gdcm"])
    assert "pillow" in _names(metadata["pillow"])
    assert "pyjpegls" in _names(metadata["jpegls"])
    assert {"napari", "dask"} <= _names(metadata["napari"])
    # The GPL-3.0 codec only through the extra whose name says so.
    gpl = "pylibjpeg-libjpeg"
    assert gpl in _names(metadata["pylibjpeg-gpl"])
    for extra, reqs in metadata.items():
        if extra in ("pylibjpeg-gpl", "test", "bench"):
            continue
        assert gpl not in _names(reqs), f"[{extra}] pulls in the GPL codec"
    # `dicomio view` works after the [napari] extra (and so [all]): it
    # brings one Qt binding, a Qt6 one napari supports going forward
    # (PySide6, LGPL), never PyQt5 (deprecated by napari) or the GPL PyQt6.
    # Extras that include [napari] (the wheel spells them out) bring that
    # one; no other extra names a binding.
    assert _names(metadata["napari"]) & QT_BINDINGS == {"pyside6-essentials"}
    for extra, reqs in metadata.items():
        bindings = _names(reqs) & QT_BINDINGS
        if "napari" in _names(reqs):
            assert bindings <= {"pyside6-essentials"}, (extra, bindings)
        else:
            assert not bindings, (extra, bindings)
    assert not {r.name.lower() for r in metadata["napari"]
                if "all" in r.extras or "pyqt" in r.extras}


def test_clean_venv_install_and_smoke(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONWARNINGS")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # The wheel and its core dependencies from the package index; nothing
    # from this environment.
    _run([python, "-m", "pip", "install", "-q", wheel], timeout=240, env=env)

    work = tmp_path / "elsewhere"  # not the repository: no source tree nearby
    work.mkdir()
    proc = _run([python, "-m", "dicomio", "--version"], timeout=60, cwd=work,
                env=env)
    assert proc.stdout.strip() == "dicomio 0.1.0"

    proc = _run([python, "-m", "dicomio", "doctor", "--json"], timeout=120,
                cwd=work, env=env)
    rows = json.loads(proc.stdout)
    jpeg = next(r for r in rows if r["keyword"] == "JPEGBaseline8Bit")
    assert jpeg["backends"]["imagecodecs"]["status"] == "verified"
    # Optional backends are not installed here, and say how to get them.
    assert jpeg["backends"]["gdcm"]["status"] == "not installed"
    assert jpeg["backends"]["gdcm"]["install"].startswith('pip install "dicomio[gdcm]"')
    # Video needs the [video] extra; doctor says so, and still exits 0.
    hevc = next(r for r in rows if r["keyword"] == "HEVCM10P51")
    assert hevc["backends"]["pyav"]["status"] == "not installed"
    assert "dicomio[video]" in hevc["backends"]["pyav"]["install"]

    script = (
        "import sys, dicomio, numpy as np\n"
        "from dicomio import samples\n"
        "assert dicomio.__file__.startswith(sys.prefix), dicomio.__file__\n"
        "for k in ('JPEGBaseline8Bit', 'JPEG2000Lossless', 'HTJ2KLossless',\n"
        "          'JPEGLSLossless', 'RLELossless', 'JPEGXLLossless'):\n"
        "    img = dicomio.DicomImage(samples.path(k))\n"
        "    arr = img.read()\n"
        "    truth = samples.expected(k)\n"
        "    assert truth is None or np.array_equal(arr, truth), k\n"
        "    print(k, arr.shape, img.decoder, img.photometric['output'])\n"
        "heavy = {'imageio', 'napari', 'dask', 'PyQt5', 'gdcm', 'PIL'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        "import importlib.resources as r\n"
        "assert r.files('dicomio').joinpath('py.typed').is_file()\n"
    )
    proc = _run([python, "-c", script], timeout=120, cwd=work, env=env)
    assert "JPEGBaseline8Bit (64, 96, 3) imagecodecs RGB" in proc.stdout

    console = bindir / "dicomio"
    proc = _run([console, "info", "--json", _sample_in(python, work, env)],
                timeout=60, cwd=work, env=env)
    assert json.loads(proc.stdout)["transfer_syntax"]["keyword"] == "HTJ2K"


def _sample_in(python: Path, cwd: Path, env: dict[str, str]) -> str:
    proc = _run([python, "-c", "from dicomio import samples; "
                 "print(samples.path('HTJ2K'))"], timeout=60, cwd=cwd, env=env)
    return proc.stdout.strip()
