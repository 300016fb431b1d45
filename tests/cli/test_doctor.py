"""``dicomio doctor``: the live support table and its three states.

Every backend is installed where the suite runs (CI installs them all), so
"not installed" is made real by hiding one codec package from a subprocess:
a module of the same name that refuses to import, first on its path.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from dicomio import registry, samples
from dicomio.backends._base import Backend, Decoded, FrameContext
from dicomio.cli import doctor, doctor_rows
from dicomio.tsyntax import TRANSFER_SYNTAXES
from tests.cli._run import plain, run

RLE = "1.2.840.10008.1.2.5"
#: What pylibjpeg's GPL libjpeg plugin decodes: JPEG (retired processes it
#: was measured on included) and JPEG-LS.
JPEG_AND_JPEGLS = {k for k, ts in TRANSFER_SYNTAXES.items()
                   if ts.family in ("jpeg", "jpegls")
                   and k in registry.get("pylibjpeg").syntaxes}
#: Retired hierarchical and lossless arithmetic JPEG: only the GPL libjpeg
#: decodes them.
LIBJPEG_ONLY = {ts.keyword for ts in TRANSFER_SYNTAXES.values()
                if "hierarchical" in ts.process or "lossless, arithmetic" in ts.process}


@pytest.fixture(scope="module")
def doctor_json() -> list[dict]:
    proc = run("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_doctor_table(doctor_json: list[dict]) -> None:
    proc = run("doctor")
    assert proc.returncode == 0, proc.stderr
    plain(proc)
    out = proc.stdout
    assert out.startswith("Transfer Syntax")
    for ts in TRANSFER_SYNTAXES.values():
        assert ts.keyword in out, ts.keyword
    assert "FAIL " not in out.split("\nok ")[0]  # no failing cell in the table
    assert "installed: imagecodecs" in out
    # The legend names the three states.
    for words in ("verified:", "failing:", "not installed"):
        assert words in out, words
    # Codec libraries' own stderr chatter (python-gdcm on 12-bit JPEG) is
    # kept out of the table.
    assert "Unsupported JPEG data precision" not in proc.stderr


def test_doctor_json(doctor_json: list[dict]) -> None:
    assert {r["uid"] for r in doctor_json} == set(TRANSFER_SYNTAXES)
    bundled = set(samples.all_paths())
    for row in doctor_json:
        cells = row["backends"]
        # Every known syntax has a backend and a sample (lossless arithmetic
        # JPEG too, since tests/_jpegwriter writes it).
        assert "note" not in row
        assert row["keyword"] in bundled
        assert row["sample"] is True
        assert cells, row["keyword"]
        # Every syntax decodes with the core install alone, video with the
        # [video] extra (PyAV), the hierarchical JPEG processes with the GPL
        # libjpeg ([pylibjpeg-gpl]), lossless arithmetic JPEG too.
        core = (cells.get("pyav") if row["family"] == "video"
                else cells.get("pylibjpeg") if row["keyword"] in LIBJPEG_ONLY
                else cells.get("imagecodecs") or cells.get("native"))
        assert core is not None and core["status"] == "verified", (row["keyword"], core)
        for name, cell in cells.items():
            assert cell["status"] in {"verified", "not installed"}, (
                row["keyword"], name, cell)
            if cell["status"] == "not installed":
                assert cell["install"].startswith("pip install ")
            else:
                assert cell["ms"] >= 0
                assert cell["exact"] if "exact" in cell else cell["psnr_db"] >= 30


def test_doctor_no_verify_decodes_nothing() -> None:
    proc = run("doctor", "--no-verify", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    statuses = {c["status"] for r in rows for c in r["backends"].values()}
    assert statuses <= {"installed", "not installed", "untested"}
    assert "installed" in statuses


def test_not_installed_gpl_codec_names_its_extra_and_is_no_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # What `pip install ".[all]"` gives: pylibjpeg without its GPL libjpeg
    # plugin (here: a plugin module that does not exist). The cells that
    # plugin would decode are "not installed", with the extra that adds it;
    # nothing fails. (CI's smoke step checks the same in a fresh venv.)
    from dicomio.backends import pylibjpeg as plj

    monkeypatch.setitem(plj._PLUGINS, "libjpeg", (
        "dicomio_tests_no_such_libjpeg", "pylibjpeg-libjpeg", "2.1", plj._LIBJPEG))
    monkeypatch.setitem(registry._loaded, "pylibjpeg", plj.PylibjpegBackend())
    rows = doctor_rows()
    gpl = 'pip install "dicomio[pylibjpeg-gpl]"'
    for row in rows:
        cell = row["backends"].get("pylibjpeg")
        if row["uid"] in JPEG_AND_JPEGLS:
            assert cell is not None and cell["status"] == "not installed", row
            assert cell["install"] == gpl
        elif cell is not None:
            assert cell["status"] == "verified", (row["keyword"], cell)
    assert doctor.problems(rows) == ([], [])
    out = io.StringIO()
    doctor.print_doctor(rows, out)
    text = out.getvalue()
    table, legend = text.split("\nok ", 1)
    assert "FAIL" not in table and "missing" in table
    assert gpl in legend and f"pylibjpeg on {len(JPEG_AND_JPEGLS)} syntaxes" in legend
    # No row lacks a backend, so the legend explains none.
    assert "no installed backend decodes" not in legend
    # The JSON carries the same command.
    assert json.loads(json.dumps(rows))[rows.index(next(
        r for r in rows if r["keyword"] == "JPEGBaseline8Bit"))][
        "backends"]["pylibjpeg"]["install"] == gpl


class _Wrong(Backend):
    """Claims RLE and returns zeros: a backend failing its sample."""

    name = "wrong-rle"
    install = "pip install wrong-rle"
    modules = ("numpy",)
    syntaxes = frozenset({RLE})

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        spec = ctx.spec
        color = "RGB" if spec.samples_per_pixel == 3 else "MONOCHROME"
        return Decoded(np.zeros(spec.frame_shape, spec.dtype), color, planar=False)


class _Raises(_Wrong):
    name = "raising-rle"

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        raise RuntimeError("codec exploded")


def test_failing_cells_are_failing_and_exit_1(capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    registry.register(_Wrong())
    registry.register(_Raises())
    try:
        rows = doctor_rows()
        (row,) = [r for r in rows if r["uid"] == RLE]
        assert row["backends"]["wrong-rle"]["status"] == "failing"
        assert row["backends"]["wrong-rle"]["exact"] is False
        assert row["backends"]["raising-rle"]["status"] == "failing"
        assert "codec exploded" in row["backends"]["raising-rle"]["error"]
        failing, unserved = doctor.problems(rows)
        assert sorted(failing) == ["RLELossless/raising-rle", "RLELossless/wrong-rle"]
        assert unserved == []

        class Args:
            no_verify = False
            json = False

        assert doctor.run(Args()) == 1  # type: ignore[arg-type]
    finally:
        registry.unregister("wrong-rle")
        registry.unregister("raising-rle")
    err = capsys.readouterr().err
    assert "RLELossless with raising-rle is failing: " in err
    assert "codec exploded" in err


def test_doctor_colours_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                           doctor_json: list[dict]) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    term = _Terminal()
    doctor.print_doctor(doctor_json, term)
    assert "\x1b[32mok" in term.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    term = _Terminal()
    doctor.print_doctor(doctor_json, term)
    assert "\x1b[" not in term.getvalue()
