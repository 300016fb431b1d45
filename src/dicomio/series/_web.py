"""Series from a DICOMweb study or series URL: metadata first, pixels later.

One WADO-RS ``/metadata`` request gives every instance's header of the study
or series; grouping, sorting along the slice normal and the geometry come
from those headers exactly as for local files, so no pixel is downloaded
until a slice is read. Each record remembers its client and instance URL,
and reading opens the instance from the header already in hand (frames in
their stored syntax, or the whole instance where the server sends none).
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

from ..sources.remote import options_for, redact

#: Attribute set on the metadata Datasets of remote records: (client, url).
WEB_ATTR = "_dicomio_web"


def scan_url(url: str, *, auth: Any = None, token: str | None = None,
             **ignored: Any) -> Any:
    """Like :func:`dicomio.series.scan`, for a DICOMweb URL."""
    from ..sources.dicomweb import client_for
    from ..sources.remote import parse_dicomweb, remember

    auth = tuple(auth) if auth is not None else None
    # Slices reopened by URL later (dask tasks, read_slice) find them.
    remember(url, auth, token)
    if parse_dicomweb(url) is None:
        return _file_result(url)
    opts = options_for(url, auth=auth, token=token)
    client, parsed = client_for(url, opts)
    datasets = client.metadata(parsed.url)
    return _result(client, datasets)


def _result(client: Any, datasets: list[Any]) -> Any:
    from .grouping import _assemble
    from .records import _get, _int, _records
    from .scanning import ScanResult, SeriesWarning, _non_image_reason

    skipped: dict[str, list[str]] = defaultdict(list)
    errors: dict[str, str] = {}
    records = []
    seen: set[str] = set()
    for ds in datasets:
        inst = client.instance_url(ds)
        shown = redact(inst)
        why = _non_image_reason(str(_get(ds, "SOPClassUID", "") or ""))
        if why is None and not (_int(_get(ds, "Rows")) and _int(_get(ds, "Columns"))):
            why = "no image pixel module (Rows/Columns missing)"
        if why is None and str(ds.SOPInstanceUID) in seen:
            why = "duplicate SOP Instance UID"
        if why is not None:
            skipped[why].append(shown)
            continue
        seen.add(str(ds.SOPInstanceUID))
        object.__setattr__(ds, WEB_ATTR, (client, inst))
        try:
            recs = _records(shown, ds, None)
        except Exception as exc:  # noqa: BLE001 - malformed values
            skipped["unreadable DICOM header"].append(shown)
            errors[shown] = f"{type(exc).__name__}: {exc}"
            continue
        ts = ds.file_meta.get("TransferSyntaxUID", None)
        for r in recs:
            # Unknown until the first frame arrives (most servers' metadata
            # omits (0002,0010)).
            r.transfer_syntax = str(ts) if ts else ""
        records.extend(recs)
    series = _assemble(records)
    for s in series:
        setattr(s, "_io_threads", client.opts.concurrency)  # noqa: B010
        for text in s.warnings:
            warnings.warn(SeriesWarning(f"{s.label}: {text}"), stacklevel=3)
    return ScanResult(series=series, skipped=dict(skipped), errors=errors,
                      n_files=len(datasets), header_warnings={})


def _file_result(url: str) -> Any:
    """One DICOM file at a plain URL: its header by range requests."""
    from ..image import DicomImage
    from .grouping import _assemble
    from .records import _records
    from .scanning import ScanResult

    with DicomImage(url) as img:
        ds = img.dataset
        shown = img.path or redact(url)
    return ScanResult(series=_assemble(_records(shown, ds, None)), n_files=1)


def open_image(rec: Any, **options: Any) -> Any:
    """A DicomImage of a remote record (None for a local one)."""
    web = getattr(rec.header, WEB_ATTR, None)
    if web is None:
        return None
    from ..image._web import from_metadata

    client, url = web
    img = from_metadata(client, url, rec.header, **options)
    rec.transfer_syntax = img.transfer_syntax.uid
    return img
