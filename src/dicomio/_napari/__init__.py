"""dicomio's napari plugin (npe2): reader, dock widget, sample data, launcher.

The manifest is ``napari.yaml`` at the repository root, shipped as
``dicomio/napari.yaml``. Nothing here imports napari or Qt at import time:
napari loads each part when it needs it.

* :func:`~dicomio._napari._reader.get_reader` /
  :func:`~dicomio._napari._reader.read_dicom`: files, folders and DICOMDIRs
  to one image layer per series (lazy dask data for stacks);
* :class:`~dicomio._napari._widget.DicomHeaderWidget`: the selected layer's
  header and decode provenance (Layers > Metadata menu);
* :mod:`~dicomio._napari._sample`: File > Open Sample > dicomio;
* :func:`~dicomio._napari.launch.view`: open napari with this plugin chosen.

See ``docs/napari.md`` for the user guide.
"""

from __future__ import annotations

from ._reader import get_reader, is_dicom_source, read_dicom

__all__ = ["get_reader", "read_dicom", "is_dicom_source"]
