"""Writing: an array (or a batch) as a DICOM Secondary Capture file."""

from __future__ import annotations

from typing import Any

import numpy as np
from imageio.core.request import RETURN_BYTES, URI_FILENAME, Request
from pydicom.dataset import Dataset

from ..errors import EncodeError


def make_dataset(request: Request, ndimage: Any, *, is_batch: bool | None,
                 transfer_syntax: str, photometric: str | None,
                 allow_lossy: bool, attrs: dict[str, Any]) -> Dataset:
    """The data set ``DicomPlugin.write`` saves (its documentation has the rules)."""
    from .. import encode
    from ..tsyntax import lookup

    ts = lookup(transfer_syntax)
    if ts.keyword not in encode.LOSSLESS_ENCODABLE and not allow_lossy \
            and attrs.get("lossless") is not True:
        raise EncodeError(
            f"{ts.keyword} is lossy: pass allow_lossy=True to accept that, or "
            "choose a lossless Transfer Syntax: "
            + ", ".join(encode.LOSSLESS_ENCODABLE), transfer_syntax=str(ts))
    if isinstance(ndimage, (list, tuple)):
        frames = [np.asarray(f) for f in ndimage]
        if len({(f.shape, f.dtype) for f in frames}) > 1:
            raise EncodeError("the images differ in shape or dtype: a DICOM "
                              "multi-frame file needs equal frames")
        arr = np.stack(frames)
        is_batch = True if is_batch is None else is_batch
    else:
        arr = np.asarray(ndimage)
    if request.mode.image_mode == "v" and arr.ndim >= 3:
        multiframe: bool | None = True
    else:
        multiframe = is_batch
    return encode.make_dataset(arr, ts, photometric=photometric,
                               multiframe=multiframe, **attrs)


def save(request: Request, ds: Dataset) -> bytes | None:
    """Write ``ds`` to the request: a file atomically, else its bytes."""
    from .. import encode

    if getattr(request, "_uri_type", None) == URI_FILENAME:
        encode.save_dataset(ds, request.filename)  # atomic
        return None
    data = encode.dataset_bytes(ds)
    request.get_file().write(data)
    return data if request.filename == RETURN_BYTES else None
