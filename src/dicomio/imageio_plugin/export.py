"""Writing plain images (PNG, JPEG, TIFF) through imageio's own plugins.

The CLI's ``convert`` writes non-DICOM images; it does so through this
module so that imageio stays an import of this package alone.
"""

from __future__ import annotations

from typing import Any

import imageio.v3 as iio


def export_image(uri: str, image: Any) -> None:
    """Write ``image`` to ``uri`` in the format its extension names."""
    iio.imwrite(uri, image)
