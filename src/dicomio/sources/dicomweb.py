"""A small DICOMweb client: WADO-RS metadata and frames, QIDO-RS series lists.

Metadata (``application/dicom+json``) becomes pydicom Datasets without any
pixel download. Frames are asked for in their stored Transfer Syntax::

    Accept: multipart/related; type="application/octet-stream"; transfer-syntax=*

and each multipart part's ``Content-Type`` says which syntax it holds
(``image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50``, ...), so frames of
every syntax (HTJ2K and JPEG XL included) arrive byte for byte as stored
and are decoded locally. A server that cannot send frames answers 4xx or
something other than multipart: :class:`FramesUnavailable` then tells the
caller to fetch the whole instance (:meth:`DicomWebClient.instance`).

Requests go through :func:`dicomio.sources.http.request` (timeouts, retries,
credentials); :class:`DicomWebClient` bounds the requests in flight.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import RemoteError
from .http import _explain, request
from .remote import DicomWebURL, WebOptions, options_for, parse_dicomweb, redact

__all__ = ["DicomWebClient", "FramesUnavailable", "InstanceFrames", "client_for"]

FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
INSTANCE_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
JSON_ACCEPT = "application/dicom+json, application/json"

# Media type of a frame part without a transfer-syntax parameter -> the
# syntax PS3.18 (Table 8.7.3-5) makes the default for it.
_MEDIA_DEFAULT = {
    "application/octet-stream": "1.2.840.10008.1.2.1",
    "image/jpeg": "1.2.840.10008.1.2.4.50",
    "image/jls": "1.2.840.10008.1.2.4.80",
    "image/x-jls": "1.2.840.10008.1.2.4.80",
    "image/jp2": "1.2.840.10008.1.2.4.90",
    "image/jpx": "1.2.840.10008.1.2.4.92",
    "image/jphc": "1.2.840.10008.1.2.4.201",
    "image/jxl": "1.2.840.10008.1.2.4.110",
    "image/dicom-rle": "1.2.840.10008.1.2.5",
    "image/x-dicom-rle": "1.2.840.10008.1.2.5",
}
_FALLBACK_STATUS = (400, 406, 415, 501)
_RECENT_BYTES = 64 << 20


class FramesUnavailable(RemoteError):
    """The server does not send frames (fetch the whole instance instead)."""


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``'a/b; k="v"; k2=v2'`` -> ``('a/b', {'k': 'v', 'k2': 'v2'})``."""
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for m in re.finditer(r';?\s*([^=;\s]+)\s*=\s*("([^"]*)"|[^;]*)', ";" + rest):
        params[m[1].lower()] = m[3] if m[3] is not None else m[2].strip()
    return media.strip().lower(), params


def split_multipart(body: bytes, content_type: str, url: str
                    ) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a ``multipart/related`` body: ``[(headers, content), ...]``.

    A body without its closing delimiter (cut short) raises RemoteError.
    """
    media, params = parse_content_type(content_type)
    boundary = params.get("boundary")
    if not media.startswith("multipart/") or not boundary:
        raise FramesUnavailable(f"expected a multipart response, got {content_type!r}",
                                path=redact(url))
    delim = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delim)
    if len(chunks) < 2 or not chunks[-1].startswith(b"--"):
        raise RemoteError("truncated response: the multipart body has no closing "
                          "boundary", path=redact(url))
    parts = []
    for chunk in chunks[1:-1]:
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise RemoteError("malformed multipart part (no header end)",
                              path=redact(url))
        headers = {}
        for line in head.split(b"\r\n"):
            name, colon, value = line.decode("latin-1").partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        parts.append((headers, content))
    return parts


def part_syntax(headers: dict[str, str]) -> str | None:
    """The Transfer Syntax UID a frame part holds (parameter or media default)."""
    media, params = parse_content_type(headers.get("content-type",
                                                   "application/octet-stream"))
    ts = params.get("transfer-syntax")
    if ts and ts != "*":
        return ts
    return _MEDIA_DEFAULT.get(media)


def _bulk_handler(tag: str, vr: str, value: str) -> None:
    # Bulk data (Pixel Data, large binary attributes) stays on the server:
    # frames are fetched on their own.
    return None


def dataset_from_json(obj: dict[str, Any]) -> Any:
    """One WADO-RS metadata object -> pydicom Dataset with a file meta.

    ``(0002,0010)`` Transfer Syntax UID is kept in ``file_meta`` when the
    server sends it (many do not: the frame response says it then).
    """
    from pydicom.dataset import Dataset, FileMetaDataset

    meta = {k: v for k, v in obj.items() if k.upper().startswith("0002")}
    body = {k: v for k, v in obj.items() if not k.upper().startswith("0002")}
    ds = Dataset.from_json(body, bulk_data_uri_handler=_bulk_handler)
    fm = FileMetaDataset()
    if meta:
        for elem in Dataset.from_json(meta):
            fm.add(elem)
    ds.file_meta = fm
    return ds


class DicomWebClient:
    """Talk to one DICOMweb server (base URL up to, not including, ``/studies``).

    Thread-safe; at most ``options.concurrency`` requests are in flight.
    """

    def __init__(self, base: str, options: WebOptions | None = None) -> None:
        self.base = base.rstrip("/")
        self.opts = options or options_for(base)
        self._slots = threading.BoundedSemaphore(max(1, self.opts.concurrency))
        self._lock = threading.Lock()
        # What reopening an instance should not ask again: its syntax, and
        # the frame fetched to learn it (bounded).
        self.syntaxes: dict[str, str] = {}
        self._recent: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._recent_bytes = 0

    def keep(self, url: str, index: int, data: bytes) -> None:
        """Hold a frame fetched but not used yet (64 MiB at most)."""
        with self._lock:
            if (url, index) in self._recent:
                return
            self._recent[(url, index)] = data
            self._recent_bytes += len(data)
            while self._recent and (self._recent_bytes > _RECENT_BYTES
                                    or len(self._recent) > 1024):
                _, old = self._recent.popitem(last=False)
                self._recent_bytes -= len(old)

    def take(self, url: str, index: int) -> bytes | None:
        with self._lock:
            data = self._recent.pop((url, index), None)
            if data is not None:
                self._recent_bytes -= len(data)
            return data

    def _get(self, url: str, accept: str, what: str = "", ok: tuple[int, ...] = (200,),
             status_retries: int | None = None) -> Any:
        with self._slots:
            return request(url, self.opts, headers={"Accept": accept}, ok=ok, what=what,
                           status_retries=status_retries)

    # -------------------------------------------------------------- metadata
    def metadata(self, url: str) -> list[Any]:
        """WADO-RS ``{url}/metadata`` of a study, series or instance -> Datasets."""
        resp = self._get(url.rstrip("/") + "/metadata", JSON_ACCEPT, "metadata: ")
        try:
            objs = resp.json()
        except ValueError:
            raise RemoteError("metadata: the response is not JSON (truncated?)",
                              path=redact(url)) from None
        if not isinstance(objs, list):
            raise RemoteError("metadata: expected a JSON array", path=redact(url))
        if not objs:
            # Some servers (Orthanc) answer an unknown UID with 200 [].
            raise RemoteError("no instances at this URL (unknown UID?)",
                              path=redact(url))
        try:
            return [dataset_from_json(o) for o in objs]
        except Exception as exc:  # noqa: BLE001 - pydicom's JSON errors vary
            raise RemoteError(f"metadata: unreadable DICOM JSON: {exc}",
                              path=redact(url)) from None

    def series_uids(self, study: str) -> list[str]:
        """QIDO-RS: the Series Instance UIDs of a study."""
        url = f"{self.base}/studies/{study}/series"
        resp = self._get(url, JSON_ACCEPT, "QIDO-RS: ", ok=(200, 204))
        if resp.status_code == 204 or not resp.content:
            return []
        out = []
        for obj in resp.json():
            value = obj.get("0020000E", {}).get("Value") or [None]
            if value[0]:
                out.append(str(value[0]))
        return out

    def instance_url(self, ds: Any) -> str:
        return (f"{self.base}/studies/{ds.StudyInstanceUID}/series/"
                f"{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}")

    # ---------------------------------------------------------------- pixels
    def frames(self, instance_url: str, numbers: Sequence[int]
               ) -> list[tuple[bytes, str | None]]:
        """Frames ``numbers`` (1-based) in one request: ``[(bytes, ts_uid), ...]``."""
        url = f"{instance_url}/frames/{','.join(str(n) for n in numbers)}"
        # A server error on frames is retried once, then taken as "cannot
        # send frames" (Orthanc 1.10 answers 500 for syntaxes its DCMTK does
        # not know, e.g. HTJ2K): the caller reads the whole instance.
        resp = self._get(url, FRAMES_ACCEPT, "frames: ", ok=(),
                         status_retries=min(1, self.opts.retries))
        if resp.status_code in _FALLBACK_STATUS or resp.status_code >= 500:
            raise FramesUnavailable(f"the server does not send these frames (HTTP "
                                    f"{resp.status_code})", path=redact(url))
        if resp.status_code != 200:
            raise RemoteError(f"frames: {_explain(resp.status_code)}", path=redact(url))
        parts = split_multipart(resp.content, resp.headers.get("Content-Type", ""), url)
        if len(parts) != len(numbers):
            raise RemoteError(f"asked for {len(numbers)} frame(s), got {len(parts)} "
                              "part(s) (truncated response?)", path=redact(url))
        return [(content, part_syntax(h)) for h, content in parts]

    def instance(self, instance_url: str) -> bytes:
        """The whole instance as stored (a Part 10 file)."""
        resp = self._get(instance_url, INSTANCE_ACCEPT, "instance: ", ok=())
        if resp.status_code in _FALLBACK_STATUS:
            # A server that does not know transfer-syntax=* may still send
            # the instance in some syntax.
            resp = self._get(instance_url, "multipart/related; "
                             'type="application/dicom"', "instance: ")
        elif resp.status_code != 200:
            raise RemoteError(f"instance: {_explain(resp.status_code)}",
                              path=redact(instance_url))
        ctype = resp.headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/"):
            parts = split_multipart(resp.content, ctype, instance_url)
            if len(parts) != 1:
                raise RemoteError(f"expected one instance, got {len(parts)}",
                                  path=redact(instance_url))
            return parts[0][1]
        return bytes(resp.content)


_clients: dict[tuple[str, str], DicomWebClient] = {}
_clients_lock = threading.Lock()


def client_for(url: str, options: WebOptions | None = None
               ) -> tuple[DicomWebClient, DicomWebURL]:
    """The (shared) client for a DICOMweb URL, and the URL's parts."""
    parsed = parse_dicomweb(url)
    if parsed is None:
        raise RemoteError("not a DICOMweb study, series or instance URL",
                          path=redact(url))
    opts = options or options_for(url)
    key = (parsed.base, repr(opts))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = DicomWebClient(parsed.base, opts)
    return client, parsed


class InstanceFrames:
    """The frames of one remote instance, fetched on demand (thread-safe).

    Frames are fetched in requests of ``frames_per_request`` and kept until
    first used (:meth:`frame` hands each one out once), so memory holds at
    most what one :meth:`prefetch` asked for.
    """

    def __init__(self, client: DicomWebClient, url: str, n_frames: int,
                 transfer_syntax: str | None = None) -> None:
        self.client = client
        self.url = url
        self.path = redact(url)
        self.n_frames = n_frames
        self._ts = transfer_syntax or client.syntaxes.get(url)
        self._cache: dict[int, bytes] = {}
        self._lock = threading.Lock()

    @property
    def transfer_syntax(self) -> str:
        """The stored syntax (fetches frame 0 when the metadata did not say)."""
        if self._ts is None:
            self.prefetch([0])
            with self._lock:
                held = self._cache.pop(0, None)
            if held is not None:
                # Held by the client, not this object: a DicomImage opened
                # only to learn the shape is closed, and the next one of the
                # same instance reads it from there.
                self.client.keep(self.url, 0, held)
        if self._ts is None:
            raise RemoteError("the server did not say which Transfer Syntax the "
                              "frames are in", path=self.path)
        return self._ts

    def _store(self, numbers: Sequence[int], got: list[tuple[bytes, str | None]]
               ) -> None:
        with self._lock:
            for i, (data, ts) in zip(numbers, got):
                if ts is not None:
                    if self._ts is None:
                        self._ts = ts
                        self.client.syntaxes[self.url] = ts
                    elif ts != self._ts:
                        raise RemoteError(
                            f"frame {i} came in {ts}, not {self._ts} as the "
                            "other frames", path=self.path)
                self._cache[i] = data

    def prefetch(self, indices: Iterable[int]) -> None:
        """Fetch frames (0-based) not held yet: batched, in parallel, bounded."""
        with self._lock:
            todo = sorted({int(i) for i in indices} - set(self._cache))
            for i in todo:
                held = self.client.take(self.url, i)
                if held is not None:
                    self._cache[i] = held
            todo = [i for i in todo if i not in self._cache]
        if not todo:
            return
        size = max(1, self.client.opts.frames_per_request)
        batches = [todo[k:k + size] for k in range(0, len(todo), size)]

        def one(batch: list[int]) -> None:
            got = self.client.frames(self.url, [i + 1 for i in batch])
            self._store(batch, got)

        if len(batches) == 1:
            one(batches[0])
            return
        workers = min(len(batches), max(1, self.client.opts.concurrency))
        with ThreadPoolExecutor(workers, thread_name_prefix="dicomio-web") as pool:
            for fut in [pool.submit(one, b) for b in batches]:
                fut.result()

    def frame(self, index: int) -> bytes:
        """Frame ``index`` (0-based): held bytes, or one request."""
        with self._lock:
            data = self._cache.pop(index, None)
        if data is None:
            data = self.client.take(self.url, index)
        if data is not None:
            return data
        got = self.client.frames(self.url, [index + 1])
        self._store([index], got)
        with self._lock:
            return self._cache.pop(index)
