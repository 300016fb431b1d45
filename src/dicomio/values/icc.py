"""The ICC profile of colour images, applied through Pillow's ImageCms.

PS3.3 C.11.15: an ICC Profile (0028,2000) at the top level (or, for whole
slide images, in the first Optical Path Sequence item) says how the stored
RGB relates to a device-independent space. The display image converts from
that profile to sRGB (a display image is for an sRGB screen) with LittleCMS, through ``PIL.ImageCms``, using the profile's default
rendering intent. Pillow is imported on first use only.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

__all__ = ["IccTransform", "icc_transform", "profile_bytes"]

def profile_bytes(ds: Any) -> bytes | None:
    """The ICC profile of ``ds`` (top level, else the first optical path)."""
    prof = ds.get("ICCProfile")
    if prof is None:
        try:
            paths = ds.get("OpticalPathSequence")
            prof = paths[0].get("ICCProfile") if paths else None
        except Exception:  # an unreadable sequence: no profile
            prof = None
    return bytes(prof) if prof else None


class IccTransform:
    """A built transform (or why there is none) and its record.

    ``applied`` is True once a frame went through the transform.
    """

    def __init__(self, transform: Any, record: dict[str, Any]) -> None:
        self._transform = transform
        self.record = record

    @property
    def usable(self) -> bool:
        return self._transform is not None

    def apply(self, frame: np.ndarray) -> None:
        """Transform one (rows, columns, 3) uint8 frame in place."""
        if self._transform is None:
            return
        from PIL import Image, ImageCms

        im = Image.fromarray(np.ascontiguousarray(frame), "RGB")
        ImageCms.applyTransform(im, self._transform, inPlace=True)
        frame[...] = np.asarray(im)
        self.record["applied"] = True


def icc_transform(ds: Any) -> IccTransform | None:
    """The transform for ``ds``, or None when the file has no ICC profile.

    A profile Pillow cannot use gives a transform that does nothing, with
    ``record["applied"] = False`` and the reason.
    """
    prof = profile_bytes(ds)
    if prof is None:
        return None
    out_space = "sRGB"  # a display image is for an sRGB screen
    record: dict[str, Any] = {"applied": False, "how": "Pillow ImageCms (LittleCMS), "
                              f"file profile -> {out_space}", "profile_bytes": len(prof)}
    try:
        from PIL import ImageCms
    except ImportError:
        record["reason"] = "Pillow is not installed (pip install dicomio[pillow])"
        return IccTransform(None, record)
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(prof))
        intent = ImageCms.getDefaultIntent(profile)
        transform = ImageCms.buildTransform(
            profile, ImageCms.createProfile(out_space),  # type: ignore[arg-type]
            "RGB", "RGB", renderingIntent=ImageCms.Intent(intent))
    except Exception as exc:  # PyCMSError and friends: a profile LittleCMS refuses
        record["reason"] = f"the ICC profile was not usable: {exc}"
        return IccTransform(None, record)
    record["intent"] = int(intent)
    return IccTransform(transform, record)
