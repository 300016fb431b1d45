"""Bytes of a DICOM file at a URL, fetched by range.

``http(s)://`` URLs go through `requests`_ (one pooled session per server,
urllib3's ``Retry`` for connection errors and 5xx answers, a timeout on every
request); any other scheme (``s3://``, ``gs://``, ``memory://``, ...) goes
through fsspec when it and the scheme's backend are installed.

:class:`RangeReader` has the interface of the local reader
(``read(offset, length)``, ``readinto``, ``size``, ``close``): opening reads
the header through :meth:`RangeReader.filelike` (64 KiB blocks, cached), and
every later read asks for exactly its own bytes.

Every request made through this module calls the functions in
:data:`REQUEST_HOOKS` with ``(method, url, status, nbytes)`` once its body is
read (the tests count requests and bytes with it).

.. _requests: https://requests.readthedocs.io
"""
from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import BackendUnavailableError, RemoteError
from .remote import WebOptions, is_http, options_for, redact, split_credentials

__all__ = ["RangeReader", "request", "REQUEST_HOOKS", "session_for"]

#: Called as ``hook(method, url, status, nbytes)`` after every request.
REQUEST_HOOKS: list[Callable[[str, str, int, int], Any]] = []

_BLOCK = 1 << 16
_RETRY_STATUS = (429, 500, 502, 503, 504)
_sessions: dict[tuple[Any, ...], Any] = {}
_sessions_lock = threading.Lock()


def _requests() -> Any:
    try:
        import requests
    except ImportError:
        raise BackendUnavailableError(
            "reading URLs needs requests: pip install 'dicomio[web]'") from None
    return requests


def session_for(url: str, opts: WebOptions) -> Any:
    """A pooled ``requests.Session`` for ``url``'s server with ``opts`` applied."""
    requests = _requests()
    from urllib.parse import urlsplit

    from urllib3.util.retry import Retry

    parts = urlsplit(split_credentials(url)[0])
    key = (parts.scheme, parts.netloc, opts.auth, opts.token, str(opts.verify),
           opts.retries, opts.backoff, opts.concurrency,
           tuple(sorted(opts.headers.items())))
    with _sessions_lock:
        s = _sessions.get(key)
        if s is not None:
            return s
        s = requests.Session()
        # urllib3 retries connection errors and timeouts; statuses and cut
        # bodies are retried in request(), which knows the caller's policy.
        retry = Retry(total=opts.retries, connect=opts.retries, read=opts.retries,
                      status=0, backoff_factor=opts.backoff,
                      allowed_methods=frozenset({"GET", "HEAD"}),
                      raise_on_status=False)
        adapter = requests.adapters.HTTPAdapter(
            max_retries=retry, pool_connections=1,
            pool_maxsize=max(1, opts.concurrency))
        s.mount(f"{parts.scheme}://", adapter)
        s.verify = opts.verify
        s.trust_env = True
        if opts.auth is not None:
            s.auth = opts.auth
        if opts.token is not None:
            s.headers["Authorization"] = f"Bearer {opts.token}"
        s.headers.update(opts.headers)
        _sessions[key] = s
        return s


def _explain(status: int) -> str:
    return {401: "the server refused the credentials (HTTP 401)",
            403: "access forbidden (HTTP 403)",
            404: "not found (HTTP 404)"}.get(status, f"HTTP {status}")


def request(url: str, opts: WebOptions | None = None, *,
            headers: Mapping[str, str] | None = None, method: str = "GET",
            ok: tuple[int, ...] = (200, 206), what: str = "",
            status_retries: int | None = None) -> Any:
    """One request with its body read; returns the ``requests.Response``.

    Connection errors and timeouts are retried by urllib3; HTTP 429 and 5xx
    answers (``status_retries`` times, default ``opts.retries``) and a body
    cut short (the connection dropped mid-transfer) are retried here, with
    the same exponential backoff. Anything that still fails is a
    :class:`~dicomio.errors.RemoteError` naming the URL without its password.
    A status outside ``ok`` raises too, unless ``ok`` is empty.
    """
    requests = _requests()
    opts = opts or options_for(url)
    clean = split_credentials(url)[0]
    shown = redact(url)
    session = session_for(url, opts)
    attempt = 0
    n_status = opts.retries if status_retries is None else status_retries
    while True:
        try:
            resp = session.request(method, clean, headers=dict(headers or {}),
                                   timeout=opts.timeout, stream=True)
            try:
                body = resp.content  # reads the body; raises if it is cut short
            finally:
                resp.close()
            for hook in REQUEST_HOOKS:
                hook(method, clean, resp.status_code, len(body))
            if resp.status_code in _RETRY_STATUS and attempt < n_status:
                attempt += 1
                time.sleep(opts.backoff * 2 ** (attempt - 1))
                continue
            break
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            attempt += 1
            if attempt > opts.retries:
                raise RemoteError(f"{what}truncated response ({_short(exc)})",
                                  path=shown) from None
            time.sleep(opts.backoff * 2 ** (attempt - 1))
        except requests.exceptions.Timeout as exc:
            raise RemoteError(f"{what}timed out after {opts.timeout} s "
                              f"({_short(exc)})", path=shown) from None
        except requests.exceptions.SSLError as exc:
            raise RemoteError(f"{what}TLS verification failed ({_short(exc)})",
                              path=shown) from None
        except requests.exceptions.RetryError as exc:
            raise RemoteError(f"{what}server error after {opts.retries} retries "
                              f"({_short(exc)})", path=shown) from None
        except requests.exceptions.RequestException as exc:
            raise RemoteError(f"{what}cannot reach the server ({_short(exc)})",
                              path=shown) from None
    if ok and resp.status_code not in ok:
        raise RemoteError(f"{what}{_explain(resp.status_code)}", path=shown)
    return resp


def _short(exc: BaseException) -> str:
    text = str(exc)
    # urllib3 repeats the URL in long reprs: keep messages readable.
    return text if len(text) <= 200 else text[:200] + "..."


class RangeReader:
    """Random access to a file at a URL by byte ranges (thread-safe).

    Parameters
    ----------
    url : str
        ``http(s)://...`` or an fsspec URL (``s3://bucket/key``, ...).
    options : WebOptions, optional
        Default: :func:`dicomio.sources.remote.options_for` the URL.
    """

    def __init__(self, url: str, options: WebOptions | None = None) -> None:
        self.url = url
        self.path = redact(url)
        self.opts = options or options_for(url)
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._data: bytes | None = None  # whole file, when ranges are refused
        self._fs: Any = None
        if is_http(url):
            self.size = self._probe_http()
        else:
            self.size = self._probe_fsspec()

    # --------------------------------------------------------------- opening
    def _probe_http(self) -> int:
        resp = request(self.url, self.opts, headers={"Range": f"bytes=0-{_BLOCK - 1}",
                                                     "Accept-Encoding": "identity"})
        body = resp.content
        if resp.status_code == 200:
            # No range support: the whole file came back; keep it.
            self._data = body
            return len(body)
        total = resp.headers.get("Content-Range", "").rpartition("/")[2]
        if not total.isdigit():
            raise RemoteError("the server answered a range request without the "
                              "file size (Content-Range)", path=self.path)
        self._remember(0, body)
        return int(total)

    def _probe_fsspec(self) -> int:
        try:
            import fsspec
        except ImportError:
            raise BackendUnavailableError(
                f"reading {self.url.split('://')[0]}:// URLs needs fsspec and its "
                "backend (e.g. pip install fsspec s3fs)", path=self.path) from None
        try:
            fs, path = fsspec.core.url_to_fs(self.url, **self.opts.storage_options)
            self._fs, self._fspath = fs, path
            size = int(fs.size(path))
        except ImportError as exc:
            raise BackendUnavailableError(f"fsspec cannot open this URL: {exc}",
                                          path=self.path) from None
        except Exception as exc:  # noqa: BLE001 - every fsspec backend has its own
            raise RemoteError(f"cannot open: {type(exc).__name__}: {exc}",
                              path=self.path) from None
        if size:
            self._remember(0, self._fetch(0, min(size, _BLOCK)))
        return size

    # ---------------------------------------------------------------- ranges
    def _fetch(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` from the server, exactly."""
        if stop <= start:
            return b""
        if self._fs is not None:
            try:
                return bytes(self._fs.cat_file(self._fspath, start=start, end=stop))
            except Exception as exc:  # noqa: BLE001
                raise RemoteError(f"cannot read bytes {start}-{stop}: "
                                  f"{type(exc).__name__}: {exc}", path=self.path) from None
        resp = request(self.url, self.opts, headers={
            "Range": f"bytes={start}-{stop - 1}", "Accept-Encoding": "identity"})
        body = resp.content
        if resp.status_code == 200:  # the server ignored the range
            body = body[start:stop]
        if len(body) != min(stop, self.size) - start:
            raise RemoteError(f"truncated response: asked for bytes {start}-{stop - 1}"
                              f", got {len(body)}", path=self.path)
        return bytes(body)

    def _remember(self, block: int, data: bytes) -> None:
        with self._lock:
            self._blocks[block] = data
            while len(self._blocks) > 64:
                self._blocks.popitem(last=False)

    def _cached(self, offset: int, length: int) -> bytes | None:
        block = offset - offset % _BLOCK
        with self._lock:
            data = self._blocks.get(block)
        if data is None or offset + length > block + len(data):
            return None
        return data[offset - block: offset - block + length]

    def read_block(self, offset: int, length: int) -> bytes:
        """Read through aligned 64 KiB blocks, cached (for header parsing)."""
        out = []
        end = min(offset + length, self.size)
        pos = offset
        while pos < end:
            block = pos - pos % _BLOCK
            data = self._cached(block, min(_BLOCK, self.size - block))
            if data is None:
                data = self._fetch(block, min(block + _BLOCK, self.size))
                self._remember(block, data)
            out.append(data[pos - block: end - block])
            pos = block + len(data)
            if not data:
                break
        return b"".join(out)

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset`` (short at the end of the file)."""
        if offset < 0 or length < 0:
            raise ValueError("negative offset or length")
        if self._data is not None:
            return self._data[offset:offset + length]
        length = max(0, min(length, self.size - offset))
        hit = self._cached(offset, length)
        if hit is not None:
            return hit
        return self._fetch(offset, offset + length)

    def readinto(self, offset: int, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        data = self.read(offset, len(view))
        view[:len(data)] = data
        return len(data)

    def filelike(self) -> io.BufferedReader:
        """A seekable binary file object over the URL (for header parsing)."""
        return io.BufferedReader(_RangeFile(self), buffer_size=_BLOCK)

    def close(self) -> None:
        with self._lock:
            self._blocks.clear()

    def __repr__(self) -> str:
        return f"RangeReader({self.path!r}, size={self.size})"


class _RangeFile(io.RawIOBase):
    def __init__(self, reader: RangeReader) -> None:
        self._r = reader
        self._pos = 0
        self.name = reader.path

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._r.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        data = (self._r._data[self._pos:self._pos + len(view)]
                if self._r._data is not None
                else self._r.read_block(self._pos, len(view)))
        view[:len(data)] = data
        self._pos += len(data)
        return len(data)
