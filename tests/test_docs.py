"""The documentation builds without a warning, and its examples run.

The build runs in a subprocess, exactly as CI and a contributor would run it
(``sphinx-build -W --keep-going -b html docs OUT``); the examples of the
pages are doctests, run here the way ``pytest --doctest-glob='*.md'`` would.
"""

from __future__ import annotations

import doctest
import importlib.util
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dicomio
from dicomio.tsyntax import TRANSFER_SYNTAXES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: Pages whose ``>>>`` examples are checked here.
DOCTEST_PAGES = [
    "index.md",
    "getting-started.md",
    "photometric.md",
    "backends.md",
]

#: The pictures of the photometric guide.
FIGURES = [
    "naive-unmarked-rgb.png",
    "naive-jfif-labelled-rgb.png",
    "naive-app14-labelled-ybr.png",
]


def _need_sphinx() -> None:
    for module in ("sphinx", "myst_parser", "numpydoc"):
        pytest.importorskip(module, reason=f"{module} builds the docs "
                            '(pip install "dicomio[docs]")')


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the HTML docs once for this module; fail on any warning."""
    _need_sphinx()
    out = tmp_path_factory.mktemp("docs")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
           "-q", "-d", str(out / "doctrees"), str(DOCS), str(out / "html")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stderr}"
    # -q leaves only warnings (and C libraries' chatter) on stderr.
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    return out / "html"


def test_docs_build_without_warnings(html: Path) -> None:
    for page in ("index", "getting-started", "photometric", "support",
                 "backends", "api", "changelog", "cli"):
        assert (html / f"{page}.html").is_file(), page


def test_every_page_is_in_the_toctree(html: Path) -> None:
    # Sphinx warns about orphans (and -W fails on it); this names the page.
    index = (html / "index.html").read_text(encoding="utf-8")
    for md in DOCS.glob("*.md"):
        if md.stem != "index":
            assert f'href="{md.stem}.html"' in index, f"{md.name} is not linked"


def test_support_table_is_measured_at_build_time(html: Path) -> None:
    page = (html / "support.html").read_text(encoding="utf-8")
    assert "Measured by dicomio" in page
    for ts in TRANSFER_SYNTAXES.values():
        assert ts.keyword in page, ts.keyword
    # A header row, then one row per syntax (video included: PyAV decodes it).
    table = page[page.index("support-table"):]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr[ >]", table)
    assert len(rows) == 1 + len(TRANSFER_SYNTAXES)
    # Every sample decodes with at least one backend.
    assert table.count("✓") >= len(TRANSFER_SYNTAXES)
    assert "✗" not in table


def test_cli_page_shows_the_real_help(html: Path) -> None:
    page = (html / "cli.html").read_text(encoding="utf-8")
    for option in ("--jobs", "--no-verify", "--rescale", "--json"):
        assert option in page


def test_api_reference_documents_the_public_api(html: Path) -> None:
    page = (html / "api.html").read_text(encoding="utf-8")
    for name in ("dicomio.DicomImage", "dicomio.imread", "dicomio.decompress",
                 "dicomio.backends.registry.register", "dicomio.series.scan",
                 "dicomio.backends._base.Backend", "dicomio.errors.DecodeError"):
        assert f'id="{name}"' in page, name


def test_figures_are_shipped_and_small(html: Path) -> None:
    for name in FIGURES:
        source = DOCS / "_static" / name
        assert source.stat().st_size < 40_000, f"{name} is too large"
        assert (html / "_images" / name).is_file() or (
            html / "_static" / name).is_file()


@pytest.mark.parametrize("page", DOCTEST_PAGES)
def test_page_examples_run(page: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files stay here
    # pytest's doctest default, so `pytest --doctest-glob='*.md'` agrees.
    flags = doctest.ELLIPSIS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        failed, attempted = doctest.testfile(
            str(DOCS / page), module_relative=False, optionflags=flags,
            verbose=False, globs={},
        )
    assert attempted > 0, f"{page} has no examples"
    assert failed == 0, f"{failed} of {attempted} examples in {page} failed"


def _figure_tool():
    spec = importlib.util.spec_from_file_location(
        "make_doc_figures", ROOT / "tools" / "make_doc_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is made.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_figures_show_what_the_guide_says() -> None:
    # Each picture pairs a naive decode with dicomio's: the two must differ a
    # lot (or the picture shows nothing), and dicomio must be the one that
    # matches the truth.
    tool = _figure_tool()
    pydicom_data = pytest.importorskip("pydicom.data")
    for fig in tool.FIGURES:
        ds, raw = tool._load(fig)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            naive = fig.naive(ds, raw).astype(int)
            ours = dicomio.imread(raw).astype(int)
            truth = dicomio.imread(pydicom_data.get_testdata_file(fig.source))
        assert np.abs(naive - ours).mean() > 20, fig.filename
        np.testing.assert_array_equal(ours, truth)


def test_figure_tool_writes_pngs(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_doc_figures.py"),
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in FIGURES:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
