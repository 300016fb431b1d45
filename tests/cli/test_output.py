"""One warning format, progress bars only on a terminal."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dicomio import samples
from dicomio.cli._output import Reporter
from tests.cli._run import plain, run
from tests.conftest import corpus_file


class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERM", raising=False)
    term = _Terminal()
    reporter = Reporter(stream=term)
    with reporter.progress(4, "decompressing") as bar:
        for _ in range(4):
            bar.update(1)
        reporter.line("FAILED x: reason")
    text = term.getvalue()
    assert "\r" in text and "decompressing" in text and "/4" in text
    assert "FAILED x: reason\n" in text

    for quiet, stream in ((False, io.StringIO()), (True, _Terminal())):
        reporter = Reporter(quiet=quiet, stream=stream)
        with reporter.progress(4, "decompressing") as bar:
            for _ in range(4):
                bar.update(1)
            reporter.line("FAILED x: reason")
        assert stream.getvalue() == "FAILED x: reason\n", quiet


def test_scan_callback_follows_done_and_total(monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    monkeypatch.delenv("TERM", raising=False)
    reporter = Reporter(stream=_Terminal())
    with reporter.progress(0, "scanning") as bar:
        callback = reporter.scan_callback(bar)
        callback(0, 10)
        callback(4, 10)
        assert (bar.n, bar.total) == (4, 10)
        callback(10, 10)
        assert bar.n == 10


def test_warnings_name_their_file_once_in_one_format() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out)
    with reporter.warnings_of("a.dcm"):
        warnings.warn("The value length (22) exceeds the maximum length of 16 "
                      "allowed for VR SH.", UserWarning, stacklevel=1)
        warnings.warn("a.dcm: no Transfer Syntax UID", UserWarning, stacklevel=1)
        warnings.warn("a.dcm: no Transfer Syntax UID", UserWarning, stacklevel=1)
    assert out.getvalue().splitlines() == [
        "dicomio: warning: a.dcm: The value length (22) exceeds the maximum length "
        "of 16 allowed for VR SH.",
        "dicomio: warning: a.dcm: no Transfer Syntax UID",
    ]


def test_warnings_of_worker_threads_name_their_own_file() -> None:
    out = io.StringIO()
    reporter = Reporter(stream=out)

    def work(name: str) -> None:
        with reporter.about(name):
            warnings.warn(f"odd header in {name[:1]}", UserWarning, stacklevel=1)

    with reporter.warnings_of("folder"), ThreadPoolExecutor(2) as pool:
        list(pool.map(work, ["x.dcm", "y.dcm"]))
        warnings.warn("outside any file", UserWarning, stacklevel=1)
    assert sorted(out.getvalue().splitlines()) == [
        "dicomio: warning: folder: outside any file",
        "dicomio: warning: x.dcm: odd header in x",
        "dicomio: warning: y.dcm: odd header in y",
    ]


def test_quiet_prints_no_warning() -> None:
    out = io.StringIO()
    with Reporter(quiet=True, stream=out).warnings_of("a.dcm"):
        warnings.warn("something", UserWarning, stacklevel=1)
    assert out.getvalue() == ""


def test_every_command_names_the_file_of_each_warning(tmp_path: Path) -> None:
    # badVR.dcm: Number of Frames '1A' makes pydicom warn (invalid IS value)
    # and dicomio warn (it counts the frames instead).
    bad = corpus_file("badVR.dcm")
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(bad, folder / "a.dcm")
    single = tmp_path / "bad.dcm"
    shutil.copy(bad, single)
    runs = {
        "info file": run("info", single),
        "convert file": run("convert", single, tmp_path / "x.npy"),
        "decompress file": run("decompress", single, tmp_path / "x.dcm"),
        "info folder": run("info", folder),
        "convert folder": run("convert", folder, tmp_path / "y.npy"),
        "decompress folder": run("decompress", folder, tmp_path / "out"),
    }
    for what, proc in runs.items():
        assert proc.returncode == 0, (what, proc.stderr)
        plain(proc)
        where = single if "file" in what else folder / "a.dcm"
        lines = proc.stderr.splitlines()
        assert lines, what
        for line in lines:
            assert line.startswith(f"dicomio: warning: {where}: "), (what, line)
        assert any("Invalid value for VR IS: '1A'" in line for line in lines), what
        assert len(lines) == len(set(lines)), (what, lines)


def _run_on_a_terminal(*args: str | os.PathLike[str]) -> tuple[int, str]:
    """Run the command with stderr on a pseudo-terminal; what it drew there."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    # A terminal of 24 rows and 80 columns (a new one has none).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    proc = subprocess.Popen([sys.executable, "-m", "dicomio", *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_folder_commands_draw_progress_on_a_terminal_unless_quiet(
        tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for keyword, path in samples.all_paths().items():
        shutil.copy(path, src / f"{keyword}.dcm")
    rc, drawn = _run_on_a_terminal("decompress", src, tmp_path / "out")
    assert rc == 0
    assert "decompressing" in drawn and "\r" in drawn
    rc, drawn = _run_on_a_terminal("decompress", "--quiet", src, tmp_path / "out2")
    assert rc == 0 and drawn == ""
