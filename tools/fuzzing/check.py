"""The worker side: decode one case and report how it broke the property."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
import traceback
import warnings
from typing import Any

import numpy as np

#: Memory limit and address-space limit of the worker processes.
WORKER_MEMORY_LIMIT = 256 << 20
WORKER_ADDRESS_SPACE = 4 << 30

_BASELINES: dict[tuple[Any, ...], Any] = {}


def _snapshot(folder: str) -> dict[str, tuple[int, int, str]]:
    out = {}
    for entry in os.scandir(folder):
        st = entry.stat()
        with open(entry.path, "rb") as fh:
            digest = hashlib.sha1(fh.read()).hexdigest()
        out[entry.name] = (st.st_size, st.st_mtime_ns, digest)
    return out


def _message_problems(exc: Any, frame_level: bool) -> list[str]:
    problems = []
    text = str(exc)
    if not exc.path or exc.path not in text:
        problems.append("the message does not name the file")
    if frame_level:
        if exc.frame is None:
            problems.append("a decode error without the frame")
        if exc.transfer_syntax is None:
            problems.append("a decode error without the Transfer Syntax")
    if not exc.message.strip():
        problems.append("an empty message")
    return problems


def _open_read(
    src: Any, opts: dict[str, Any], backend: Any
) -> tuple[Any, Any, list[str]]:
    import dicomio

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = dicomio.DicomImage(
            src,
            color=opts["color"],
            threads=opts["threads"],
            backend=backend,
            isolate=opts.get("isolate"),
        )
        try:
            arr = img.read()
        finally:
            img.close()
    texts = [f"{w.category.__name__}: {w.message}" for w in caught]
    return img, arr, texts


def _pick_backend(base: bytes, pick: float | None) -> Any:
    if pick is None:
        return None
    import dicomio
    from dicomio import registry

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = dicomio.DicomImage(base)
        names = [b.name for b in registry.candidates(img.spec)]
    except Exception:
        return None
    return names[int(pick * len(names)) % len(names)] if names else None


def check_case(request: dict[str, Any]) -> dict[str, Any]:
    """Worker side: run one case and report the property's violations."""
    try:
        return _check(request)
    except BaseException as exc:  # a harness bug must not look like a crash
        return {
            "outcome": "harness-error",
            "violations": [
                ("harness", "".join(traceback.format_exception(exc))[-2000:])
            ],
            "warnings": [],
        }


_TMP = {"dir": ""}


def _check(req: dict[str, Any]) -> dict[str, Any]:
    import dicomio

    opts = req["options"]
    if opts.get("selftest") == "abort":  # proves the harness survives a crash
        os.abort()
    if opts.get("selftest") == "hang":
        time.sleep(3600)
    violations: list[tuple[str, str]] = []
    backend = _pick_backend(req["base"], opts.get("backend_pick"))
    src: Any = req["data"]
    folder = None
    if opts.get("source") == "path":
        if not _TMP["dir"]:
            _TMP["dir"] = tempfile.mkdtemp(prefix="dicomio-fuzz-")
        folder = os.path.join(_TMP["dir"], "in")
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        src = os.path.join(folder, "case.dcm")
        with open(src, "wb") as fh:
            fh.write(req["data"])
        before = _snapshot(folder)
    result: dict[str, Any] = {"outcome": "ok", "violations": violations, "warnings": []}
    started = time.monotonic()
    try:
        img, arr, texts = _open_read(src, opts, backend)
        result["warnings"] = texts
    except dicomio.DicomioError as exc:
        result["outcome"] = f"error:{type(exc).__name__}"
        result["error"] = str(exc)[:2000]
        frame_level = isinstance(exc, dicomio.DecodeError)
        for problem in _message_problems(exc, frame_level):
            violations.append(("message", f"{problem}: {exc}"[:2000]))
        if isinstance(exc, dicomio.MemoryLimitError) and "out of memory" in str(exc):
            violations.append(("oom", str(exc)[:2000]))
        if req.get("expect") and _baseline(req, opts, backend) is not None:
            violations.append(
                ("tolerance", f"a recoverable file raised {exc!r}"[:2000])
            )
    except Exception as exc:
        result["outcome"] = f"exception:{type(exc).__name__}"
        violations.append(
            ("exception", "".join(traceback.format_exception(exc))[-3000:])
        )
    else:
        _check_output(req, img, arr, texts, backend, opts, violations)
    result["seconds"] = time.monotonic() - started
    if folder is not None:
        after = _snapshot(folder)
        if after != before:
            violations.append(("wrote", f"the input folder changed: {sorted(after)}"))
    if violations and result["outcome"] == "ok":
        result["outcome"] = "violation"
    return result


def _baseline(req: dict[str, Any], opts: dict[str, Any], backend: Any) -> Any:
    """The unmutated file's pixels with the same options (None if it fails)."""
    key = (hashlib.sha1(req["base"]).hexdigest(), opts["color"], backend)
    if key not in _BASELINES:
        try:
            _BASELINES[key] = _open_read(req["base"], opts, backend)[1]
        except Exception:
            _BASELINES[key] = None
    return _BASELINES[key]


def _check_output(
    req: dict[str, Any],
    img: Any,
    arr: Any,
    texts: list[str],
    backend: Any,
    opts: dict[str, Any],
    violations: list[tuple[str, str]],
) -> None:
    import dicomio

    if arr.shape != img.shape or arr.dtype != img.dtype:
        violations.append(
            (
                "shape",
                f"read() gave {arr.shape} {arr.dtype}, the "
                f"header says {img.shape} {img.dtype}",
            )
        )
        return
    ds = img.dataset
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        # Video: the stream's own size controls decoding (PS3.5 8.2.5), said
        # in a warning; any other syntax must match the header.
        stream_wins = img.transfer_syntax.family == "video" and any(
            "using the stream's size" in t for t in img.warnings)
        if img.frame_shape[:2] != (rows, cols) and not stream_wins:
            violations.append(
                (
                    "shape",
                    f"frame shape {img.frame_shape} but Rows {rows} Columns {cols}",
                )
            )
    except (AttributeError, TypeError, ValueError):
        pass
    if img.n_frames > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = dicomio.DicomImage(
                req["data"], color=opts["color"], backend=backend
            )
            for i in (0, img.n_frames - 1):
                one = again.read(i)
                if not np.array_equal(one, arr[i]):
                    violations.append(
                        (
                            "frames",
                            f"read({i}) differs from "
                            f"read()[{i}] (decoder {img.decoder})",
                        )
                    )
    if req.get("warn") and not any(
        t.startswith("DicomioWarning") and re.search(req["warn"], t) for t in texts
    ):
        violations.append(
            (
                "silent",
                f"recovered without a DicomioWarning matching "
                f"{req['warn']!r}; warnings: {texts}",
            )
        )
    if req.get("expect"):
        ref = _baseline(req, opts, backend)
        if ref is None:
            return
        if req["expect"] == "prefix":
            n = req["frames"]
            ref = ref[:n] if n > 1 else ref[0]
        if ref.shape != arr.shape or not np.array_equal(ref, arr):
            violations.append(
                (
                    "tolerance",
                    f"recovered pixels differ from the "
                    f"original ({arr.shape} vs {ref.shape}, decoder "
                    f"{img.decoder})",
                )
            )


def _worker_main() -> None:
    try:
        import resource

        resource.setrlimit(
            resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE)
        )
    except (ImportError, ValueError, OSError):
        pass
    os.environ["DICOMIO_MEMORY_LIMIT"] = str(WORKER_MEMORY_LIMIT)
    warnings.simplefilter("ignore")
    from dicomio.backends._guard import serve

    serve(check_case)
