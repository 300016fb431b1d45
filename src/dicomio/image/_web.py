"""DicomImage over URLs: DICOMweb instances and DICOM files at URLs.

A DICOMweb instance opens from its WADO-RS metadata (one request); its
Transfer Syntax comes from the metadata when the server sends (0002,0010),
else from the first frame's multipart part (that frame is kept for the
first read). Frames are then fetched per request, in their stored syntax,
and decoded here by the same backends as local frames. A server that
cannot send frames gets the whole instance fetched once, read in memory.

A plain URL (``http(s)://``, fsspec) is read by byte ranges: the header
through a cached block reader, each frame as its own range.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import DicomioError, InvalidDicomError, RemoteError
from ..pixels.frames import PixelLocation
from ..sources.remote import WebOptions, options_for, parse_dicomweb, redact

if TYPE_CHECKING:
    from . import DicomImage

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def web_options(url: str, auth: Any = None, token: str | None = None) -> WebOptions:
    return options_for(url, auth=tuple(auth) if auth is not None else None, token=token)


def open_url(img: DicomImage, url: str, opts: WebOptions) -> None:
    """Open ``img`` from a URL (DICOMweb instance or a file by ranges)."""
    parsed = parse_dicomweb(url)
    if parsed is None:
        from ..sources.http import RangeReader

        reader = RangeReader(url, opts)
        img.path = reader.path
        img._open(reader.path, None, reader=reader)
        return
    if parsed.level != "instance":
        raise InvalidDicomError(
            f"a DICOMweb {parsed.level} URL holds several images: use "
            "dicomio.read_series(url) (or add /series/{uid}/instances/{uid})",
            path=redact(url))
    from ..sources.dicomweb import client_for

    client, parsed = client_for(url, opts)
    # The first frame (which tells the stored syntax when the metadata does
    # not) is asked for while the metadata comes: one round trip, not two.
    with ThreadPoolExecutor(1, thread_name_prefix="dicomio-web") as pool:
        first = pool.submit(_first_frame, client, parsed.url)
        ds = client.metadata(parsed.url)[0]
        first.result()
    open_instance(img, client, parsed.url, ds)


def _first_frame(client: Any, url: str) -> None:
    """Fetch frame 1 for the client to hold (errors show up again later)."""
    from ..sources.dicomweb import InstanceFrames

    try:
        frames = InstanceFrames(client, url, 1)
        _ = frames.transfer_syntax
    except DicomioError:
        pass


def open_instance(img: DicomImage, client: Any, url: str, ds: Any) -> None:
    """Set ``img`` up from an instance's metadata ``ds`` (frames fetched later)."""
    from ..sources.dicomweb import FramesUnavailable, InstanceFrames

    img.path = redact(url)
    meta_ts = ds.file_meta.get("TransferSyntaxUID", None) if hasattr(
        ds, "file_meta") else None
    try:
        n = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        n = 1
    frames = InstanceFrames(client, url, n, str(meta_ts) if meta_ts else None)
    try:
        uid = frames.transfer_syntax
    except FramesUnavailable as exc:
        # The server sends no frames: the whole instance, once.
        img._open(None, client.instance(url))
        img.path = redact(url)
        img.warnings.append(f"{exc.message}: the whole instance was read instead")
        return
    ds.file_meta.TransferSyntaxUID = uid
    img.dataset = ds
    img.transfer_syntax = img._syntax(ds)
    keyword = next((k for k in _PIXEL_KEYWORDS[1:] if k in ds), "PixelData")
    loc = PixelLocation(0, None, "OB", keyword)
    img._loc = loc
    try:
        img.spec = img._make_spec(ds, loc)
    except DicomioError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom converts values lazily
        raise img._err(InvalidDicomError, f"unreadable Image Pixel attribute: "
                       f"{type(exc).__name__}: {exc}") from None
    state: Any = img  # the DICOMweb state lives beside DicomImage's own
    state._web = frames


def frame_bytes(img: DicomImage, i: int) -> bytes:
    """Frame ``i`` of a DICOMweb image (whole-instance fallback when refused)."""
    from ..sources.dicomweb import FramesUnavailable

    state: Any = img
    local = getattr(img, "_web_local", None)
    if local is None:
        try:
            return bytes(state._web.frame(i))
        except FramesUnavailable:
            pass
        except RemoteError as exc:
            raise RemoteError(exc.message, path=exc.path, frame=i,
                              transfer_syntax=str(img.transfer_syntax)) from None
        with img._lock:
            local = getattr(img, "_web_local", None)
            if local is None:
                from . import DicomImage

                data = state._web.client.instance(state._web.url)
                local = state._web_local = DicomImage(data)
    return bytes(local._frame_bytes(i))


def prefetch(img: DicomImage, indices: Any) -> None:
    """Fetch the frames a read will decode: batched requests in parallel."""
    from ..sources.dicomweb import FramesUnavailable

    web = getattr(img, "_web", None)
    if web is None or getattr(img, "_web_local", None) is not None:
        return
    n = img.n_frames
    if n > max(1, web.client.opts.frames_per_request) and len(set(indices)) == n:
        # Every frame of a large instance: the instance as stored, in one
        # request (frame lists would make the server parse it per request).
        from . import DicomImage

        state: Any = img
        with img._lock:
            if getattr(img, "_web_local", None) is None:
                state._web_local = DicomImage(web.client.instance(web.url))
        return
    try:
        web.prefetch(indices)
    except FramesUnavailable:
        pass  # frame_bytes falls back to the whole instance


def from_metadata(client: Any, url: str, ds: Any, *, warn: bool = True,
                  **options: Any) -> DicomImage:
    """A DicomImage of a DICOMweb instance whose metadata ``ds`` is known."""
    import warnings

    from . import DicomImage

    img = DicomImage.__new__(DicomImage)
    img._configure(options.get("backend"), options.get("color", "rgb"),
                   options.get("threads"), options.get("memory_limit"),
                   options.get("isolate"))
    open_instance(img, client, url, ds)
    if warn:
        for w in img.warnings:
            warnings.warn(f"{img._where()}: {w}", _warning_class(), stacklevel=3)
    return img


def _warning_class() -> type[Warning]:
    from . import DicomioWarning

    return DicomioWarning
