"""Decode frames in a child process, so a crashing codec cannot kill the caller.

The C and Rust codecs under dicomio (libjpeg, OpenJPEG, CharLS, GDCM, libjxl,
pylibjpeg-rle) have a history of aborting the whole process on malformed
input. dicomio validates every frame's codestream header before any codec
sees it (:mod:`dicomio.pixels.codestream`), which stops the known triggers; for the
rest, isolation decodes each frame in a worker process instead:

>>> import dicomio
>>> img = dicomio.DicomImage(dicomio.samples.path("JPEG2000"), isolate=True)
>>> img.read().shape
(64, 64, 3)

or set ``DICOMIO_ISOLATE=1`` in the environment. A worker that dies (SIGSEGV,
SIGABRT, a Rust abort, ``os._exit``) or takes longer than
``DICOMIO_ISOLATE_TIMEOUT`` seconds (default 120) to decode one frame becomes
a :class:`~dicomio.errors.DecodeError` naming the backend and the signal; the
frame then falls back to the next capable backend, as any failure does.

How it works
------------
Workers are plain ``python -c "from dicomio.backends._guard import main; main()"``
processes (not
``multiprocessing``: the caller's ``__main__`` is never re-imported, so
scripts without an ``if __name__ == "__main__"`` guard are safe). Requests and
replies are length-prefixed pickles on the child's stdin and stdout; the child
moves its own file descriptor 1 to stderr first, so codec chatter printed on
stdout cannot corrupt the channel. Workers are kept in a small pool and
reused (one frame at a time each, so threads decode in parallel processes); a
worker is retired after :data:`MAX_TASKS_PER_WORKER` frames, and replaced
after a crash or a timeout. The child gets the caller's ``sys.path``, so
backends registered from importable modules work; a backend class must be
importable at module level and constructible without arguments.

Costs: starting a worker takes a few hundred milliseconds (once per worker),
and every frame's bytes and pixels cross a pipe. The pure NumPy ``native``
backend cannot crash the interpreter and always runs in-process.

:class:`Worker` and :func:`serve` are generic (any picklable request, any
handler): ``tools/fuzz.py`` runs its cases through them.
"""

from __future__ import annotations

import atexit
import importlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import IO, Any

from ..errors import DecodeError

__all__ = [
    "IN_WORKER",
    "MAX_TASKS_PER_WORKER",
    "Worker",
    "WorkerDied",
    "decode",
    "isolate_default",
    "main",
    "serve",
    "shutdown",
    "timeout_default",
]

#: A worker is replaced after this many frames (bounds slow leaks in codecs).
MAX_TASKS_PER_WORKER = 500
#: True inside a worker process (set by :func:`serve`).
IN_WORKER = False

_HEADER = struct.Struct("<Q")
# Not ``-m dicomio.backends._guard``: the package imports this module first, and runpy
# warns about running a module that is already imported.
_CHILD = "from dicomio.backends._guard import main; main()"
_ENV = "DICOMIO_ISOLATE"
_ENV_TIMEOUT = "DICOMIO_ISOLATE_TIMEOUT"
_DEFAULT_TIMEOUT = 120.0
#: Backends implemented in Python and NumPy only: nothing there can crash.
_IN_PROCESS = frozenset({"native"})


def isolate_default() -> bool | None:
    """The isolation policy from ``DICOMIO_ISOLATE``.

    ``1``/``true``/``yes``/``on``: every backend in a worker process (True);
    ``0``/``false``/``no``/``off``: none (False); unset: automatic (None),
    which isolates only the backends marked ``crash_prone`` (GDCM).
    """
    value = os.environ.get(_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return None


def timeout_default() -> float:
    """Seconds one isolated frame may take (``DICOMIO_ISOLATE_TIMEOUT``, 120)."""
    try:
        value = float(os.environ.get(_ENV_TIMEOUT, "") or _DEFAULT_TIMEOUT)
    except ValueError:
        return _DEFAULT_TIMEOUT
    return value if value > 0 else _DEFAULT_TIMEOUT


class WorkerDied(RuntimeError):
    """The worker process exited (crash or timeout) before it replied.

    Attributes
    ----------
    returncode : int or None
        The process exit status; negative for a signal (POSIX).
    timed_out : bool
        The worker was killed by the watchdog.
    timeout : float or None
        The time limit that was exceeded.
    """

    def __init__(
        self,
        returncode: int | None,
        timed_out: bool = False,
        timeout: float | None = None,
    ) -> None:
        self.returncode = returncode
        self.timed_out = timed_out
        self.timeout = timeout
        super().__init__(self.describe())

    @property
    def signal_name(self) -> str | None:
        """``"SIGSEGV"`` and the like, or None when no signal ended the process."""
        rc = self.returncode
        if rc is None or rc >= 0:
            return None
        try:
            return signal.Signals(-rc).name
        except ValueError:
            return f"signal {-rc}"

    def describe(self) -> str:
        """The cause in plain words."""
        if self.timed_out:
            return f"no answer within {self.timeout:g} s (worker killed)"
        if self.signal_name:
            return f"the worker process was killed by {self.signal_name}"
        return f"the worker process exited with status {self.returncode}"


# ---------------------------------------------------------------- framing
def _write(fh: IO[bytes], obj: Any) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_HEADER.pack(len(payload)))
    fh.write(payload)
    fh.flush()


def _read_exact(fh: IO[bytes], n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = fh.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read(fh: IO[bytes]) -> tuple[bool, Any]:
    """Read one message: ``(True, obj)``, or ``(False, None)`` at end of file."""
    head = _read_exact(fh, _HEADER.size)
    if head is None:
        return False, None
    body = _read_exact(fh, _HEADER.unpack(head)[0])
    if body is None:
        return False, None
    return True, pickle.loads(body)


# ----------------------------------------------------------------- worker
class Worker:
    """One child process answering requests with a handler, one at a time.

    Parameters
    ----------
    argv : sequence of str, optional
        The command starting the child; it must call :func:`serve`. Default:
        a frame-decoding worker (:func:`main`).
    env : dict, optional
        Environment of the child (default: the caller's).
    stderr : int or file, optional
        Where the child's stderr (and its stdout chatter) goes; default the
        caller's stderr. ``subprocess.DEVNULL`` silences it.

    Notes
    -----
    Not thread-safe: each thread uses its own worker (the pool in
    :func:`decode` hands one out per frame).
    """

    def __init__(
        self,
        argv: Sequence[str] | None = None,
        *,
        env: dict[str, str] | None = None,
        stderr: Any = None,
    ) -> None:
        self.argv = list(argv) if argv else [sys.executable, "-c", _CHILD]
        self.tasks = 0
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            close_fds=True,
        )
        # The child runs with the caller's import path (as multiprocessing's
        # spawn does), so backends from importable modules resolve there.
        reply = self.call(("__init__", list(sys.path)), timeout=120.0)
        if reply != "ready":
            self.kill()
            raise RuntimeError(f"worker {self.argv} did not start: {reply!r}")

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._proc.pid

    def alive(self) -> bool:
        """True while the child runs."""
        return self._proc.poll() is None

    def call(self, request: Any, timeout: float | None = None) -> Any:
        """Send ``request``, wait for the handler's reply and return it.

        Raises
        ------
        WorkerDied
            The child exited or was killed by the watchdog (after ``timeout``
            seconds) before replying; the worker is unusable afterwards.
        """
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        fired = threading.Event()

        def watchdog() -> None:
            # Only end the process: the blocked read below then sees end of
            # file (closing the pipe under a reading thread is not safe).
            fired.set()
            try:
                proc.kill()
            except OSError:
                pass

        timer = threading.Timer(timeout, watchdog) if timeout else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            try:
                _write(proc.stdin, request)
                ok, reply = _read(proc.stdout)
            except (OSError, EOFError, ValueError, pickle.UnpicklingError):
                ok, reply = False, None
        finally:
            if timer is not None:
                timer.cancel()
        if not ok:
            self.kill()
            raise WorkerDied(proc.returncode, fired.is_set(), timeout)
        self.tasks += 1
        return reply

    def kill(self) -> None:
        """End the child at once and reap it."""
        proc = self._proc
        if proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable child
            pass
        for fh in (proc.stdin, proc.stdout):
            try:
                if fh is not None:
                    fh.close()
            except OSError:
                pass

    def close(self) -> None:
        """Ask the child to exit (end of input), then make sure it did."""
        proc = self._proc
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


def serve(handler: Callable[[Any], Any]) -> None:
    """Child side of :class:`Worker`: answer requests on stdin until it closes.

    The reply to each request is ``handler(request)``. Anything the handler
    raises ends the worker (handlers report expected failures in their
    replies). File descriptor 1 is redirected to stderr, so libraries that
    print cannot corrupt the replies.
    """
    global IN_WORKER
    IN_WORKER = True
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = os.fdopen(0, "rb", closefd=False)
    out = os.fdopen(out_fd, "wb")
    while True:
        ok, request = _read(inp)
        if not ok:
            return
        if isinstance(request, tuple) and request and request[0] == "__init__":
            for entry in reversed(request[1]):
                if entry not in sys.path:
                    sys.path.insert(0, entry)
            _write(out, "ready")
            continue
        _write(out, handler(request))


# --------------------------------------------------------------- the pool
_pool_lock = threading.Lock()
_idle: list[Worker] = []
_owner = os.getpid()


def _checkout() -> Worker:
    global _owner
    with _pool_lock:
        if os.getpid() != _owner:
            # A forked child must not talk to its parent's workers.
            _idle.clear()
            _owner = os.getpid()
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
    return Worker()


def _checkin(worker: Worker) -> None:
    if not worker.alive() or worker.tasks >= MAX_TASKS_PER_WORKER:
        worker.close()
        return
    with _pool_lock:
        if len(_idle) < max(2, os.cpu_count() or 1):
            _idle.append(worker)
            return
    worker.close()


def shutdown() -> None:
    """Stop every idle worker (also run at interpreter exit)."""
    with _pool_lock:
        workers = list(_idle)
        _idle.clear()
    for worker in workers:
        worker.close()


atexit.register(shutdown)


def _backend_ref(backend: Any) -> tuple[str, str, str]:
    cls = type(backend)
    return backend.name, cls.__module__, cls.__qualname__


def decode(backend: Any, data: bytes, ctx: Any, *, timeout: float | None = None) -> Any:
    """Run ``backend.decode(data, ctx)`` in a worker process.

    Parameters
    ----------
    backend : dicomio.backends._base.Backend
        The backend to run; found in the worker by name (built-in and
        entry-point backends) or by importing its class.
    data : bytes
        The frame's bytes.
    ctx : dicomio.backends._base.FrameContext
        As for :meth:`Backend.decode`; ``ctx.out`` is not shared (the worker
        returns a new array, which the caller copies into place).
    timeout : float, optional
        Seconds before the worker is killed (default
        :func:`timeout_default`).

    Returns
    -------
    dicomio.backends._base.Decoded

    Raises
    ------
    DecodeError
        The worker crashed (the message names the backend and the signal)
        or timed out.
    Exception
        Whatever the backend raised in the worker (re-raised here).
    """
    if backend.name in _IN_PROCESS:
        return backend.decode(data, ctx)
    timeout = timeout or timeout_default()
    request = ("decode", _backend_ref(backend), bytes(data), replace(ctx, out=None))
    worker = _checkout()
    try:
        status, value = worker.call(request, timeout=timeout)
    except WorkerDied as died:
        what = (
            f"timed out: {died.describe()}"
            if died.timed_out
            else f"crashed: {died.describe()}"
        )
        raise DecodeError(
            f"backend {backend.name!r} {what}; it ran in a worker process, so "
            "the caller survived"
        ) from None
    _checkin(worker)
    if status == "ok":
        return value
    if isinstance(value, BaseException):
        raise value
    raise RuntimeError(str(value))


# ------------------------------------------------------------ child side
_backends: dict[tuple[str, str, str], Any] = {}


def _resolve(ref: tuple[str, str, str]) -> Any:
    be = _backends.get(ref)
    if be is not None:
        return be
    name, module, qualname = ref
    from . import registry

    try:
        be = registry.get(name)
    except ValueError:
        be = None
    if be is None or (type(be).__module__, type(be).__qualname__) != (module, qualname):
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        be = obj()
    _backends[ref] = be
    return be


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError with its text."""
    try:
        if not isinstance(exc, Exception):
            raise TypeError  # the caller only handles Exception subclasses
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    exc.__traceback__ = None
    exc.__context__ = exc.__cause__ = None
    return exc


def _handle(request: Any) -> tuple[str, Any]:
    kind, ref, data, ctx = request
    if kind != "decode":
        return "error", RuntimeError(f"unknown request {kind!r}")
    try:
        return "ok", _resolve(ref).decode(data, ctx)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # reported (a Rust panic is no Exception)
        return "error", _portable(exc)


def main() -> None:
    """Entry point of a frame-decoding worker."""
    serve(_handle)
