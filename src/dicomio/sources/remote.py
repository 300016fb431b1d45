"""URLs as sources: what kind a string is, credentials and options.

This module is light on purpose (no HTTP client import): the image and
series layers ask it whether a source is a URL before anything heavy loads.
The HTTP work lives in :mod:`dicomio.sources.http` (byte ranges of a file
at a URL) and :mod:`dicomio.sources.dicomweb` (a DICOMweb client), both
loaded on first use.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["WebOptions", "configure", "options_for", "remember", "is_url", "is_dicomweb",
           "redact", "split_credentials", "DicomWebURL", "parse_dicomweb"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")
_DICOMWEB = re.compile(
    r"^(?P<base>.+?)/studies/(?P<study>[^/?#]+)"
    r"(?:/series/(?P<series>[^/?#]+)"
    r"(?:/instances/(?P<instance>[^/?#]+))?)?/?$")


@dataclass(frozen=True)
class WebOptions:
    """How dicomio talks to a server.

    Parameters
    ----------
    auth : (user, password), optional
        HTTP Basic credentials (credentials written in the URL are used when
        this is not given).
    token : str, optional
        A bearer token, sent as ``Authorization: Bearer <token>``.
    verify : bool or str
        TLS certificate verification (on by default), or a CA bundle path.
    timeout : float or (connect, read)
        Seconds for every request (no request can hang).
    retries : int
        Retries with exponential backoff on connection errors, timeouts,
        truncated bodies and HTTP 429/500/502/503/504.
    backoff : float
        First backoff delay in seconds (doubles per retry).
    concurrency : int
        Requests in flight at once, per server.
    frames_per_request : int
        Frames asked for in one WADO-RS ``/frames/{list}`` request. A read
        of every frame of an instance with more frames than this fetches
        the whole instance instead (one request; servers such as Orthanc
        parse the stored file once per request).
    headers : dict
        Extra request headers.
    storage_options : dict
        Passed to fsspec for non-HTTP URLs (``s3://``, ``gs://``, ...).
    """

    auth: tuple[str, str] | None = None
    token: str | None = None
    verify: bool | str = True
    timeout: float | tuple[float, float] = (3.05, 30.0)
    retries: int = 3
    backoff: float = 0.1
    concurrency: int = 8
    frames_per_request: int = 50
    headers: dict[str, str] = field(default_factory=dict)
    storage_options: dict[str, Any] = field(default_factory=dict)


_lock = threading.Lock()
_configured: dict[str, WebOptions] = {}


def configure(prefix: str, **options: Any) -> WebOptions:
    """Set the options (credentials, timeouts, ...) for URLs starting with ``prefix``.

    Every door (``DicomImage``, ``read_series``, imageio, napari, dask, the
    CLI) then uses them for those URLs. The longest matching prefix wins.
    ``configure(prefix)`` with no options forgets that prefix again.

    Examples
    --------
    >>> import dicomio
    >>> opts = dicomio.configure_web("https://pacs.example.org/dicom-web",
    ...                              token="abc", timeout=10)
    >>> opts.timeout
    10
    """
    opts = WebOptions(**options)
    if opts.auth is not None:
        opts = replace(opts, auth=(str(opts.auth[0]), str(opts.auth[1])))
    with _lock:
        if options:
            _configured[_strip(prefix)] = opts
        else:
            _configured.pop(_strip(prefix), None)
    return opts


def options_for(url: str, **overrides: Any) -> WebOptions:
    """The options for ``url``: configured ones, then URL credentials, then ``overrides``.

    Credentials written in the URL replace configured (or remembered) ones.
    """
    clean, auth = split_credentials(url)
    with _lock:
        best = max((p for p in _configured if clean.startswith(p)),
                   key=len, default=None)
        opts = _configured[best] if best is not None else WebOptions()
    if auth is not None:
        opts = replace(opts, auth=auth, token=None)
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(opts, **given) if given else opts


def remember(url: str, auth: tuple[str, str] | None = None,
             token: str | None = None) -> None:
    """Keep credentials given with ``url`` for its server, in this process.

    Readers that reopen images by URL later (dask tasks, series slices) find
    them there without the password travelling in task arguments or error
    messages. An existing :func:`configure` of the server is left alone.
    """
    clean, in_url = split_credentials(url)
    auth = auth or in_url
    if auth is None and token is None:
        return
    known = options_for(clean)
    if known.auth is not None or known.token is not None:
        return  # configured already: that wins
    parsed = parse_dicomweb(clean)
    parts = urlsplit(clean)
    prefix = parsed.base if parsed is not None else f"{parts.scheme}://{parts.netloc}"
    with _lock:
        base = _configured.get(prefix, known)
        _configured[prefix] = replace(
            base, auth=(str(auth[0]), str(auth[1])) if auth is not None else None,
            token=token)


def _strip(url: str) -> str:
    return split_credentials(url)[0].rstrip("/")


def is_url(source: Any) -> bool:
    """True for ``scheme://...`` strings (``http``, ``https``, fsspec protocols)."""
    return (isinstance(source, str) and bool(_SCHEME.match(source))
            and not source.lower().startswith("file://"))


def is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``(url without user:password, (user, password) or None)``."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, (unquote(parts.username or ""), unquote(parts.password or ""))


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    clean, auth = split_credentials(url)
    assert auth is not None
    p = urlsplit(clean)
    netloc = f"{quote(auth[0], safe='')}:***@{p.netloc}"
    return urlunsplit((p.scheme, netloc, p.path, p.query, p.fragment))


@dataclass(frozen=True)
class DicomWebURL:
    """A DICOMweb study, series or instance URL, taken apart."""

    base: str
    study: str
    series: str | None = None
    instance: str | None = None

    @property
    def url(self) -> str:
        out = f"{self.base}/studies/{self.study}"
        if self.series:
            out += f"/series/{self.series}"
            if self.instance:
                out += f"/instances/{self.instance}"
        return out

    @property
    def level(self) -> str:
        return "instance" if self.instance else "series" if self.series else "study"


def parse_dicomweb(url: str) -> DicomWebURL | None:
    """The parts of a DICOMweb URL (credentials removed), or None."""
    if not is_http(url):
        return None
    m = _DICOMWEB.match(split_credentials(url)[0])
    if m is None:
        return None
    return DicomWebURL(m["base"], m["study"], m["series"], m["instance"])


def is_dicomweb(url: Any) -> bool:
    """True for ``http(s)://host/<prefix>/studies/{uid}[/series/{uid}[/instances/{uid}]]``."""
    return isinstance(url, str) and parse_dicomweb(url) is not None
