"""Opening: the source, the header, and the plan of the pixels.

A file is read up to Pixel Data (pydicom, ``stop_before_pixels``; a deflated
data set is inflated first, bounded), its Transfer Syntax looked up, Pixel
Data located, the Image Pixel attributes checked into a
:class:`~dicomio.backends._base.PixelSpec`, and the frames laid out
(:mod:`.frames`). Defects that can be tolerated go to ``warnings``; the rest
raise :class:`~dicomio.errors.InvalidDicomError` naming the file.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from .. import tsyntax
from ..backends._base import PixelSpec
from ..dataset import elements as _values
from ..dataset.deflated import inflate_dataset
from ..errors import DicomioError, InvalidDicomError, UnsupportedTransferSyntaxError
from ..pixels.frames import PixelLocation, locate_pixel_data, trailing_data
from ..sources.local import _Reader, as_filelike
from ..tsyntax import TransferSyntax, lookup
from .frames import FrameLayout
from .header import encoding, int_value
from .limits import memory_limit


class Opening(FrameLayout):
    """Opening and planning (a part of :class:`~dicomio.image.DicomImage`)."""

    def _open_header(self, path: str, ds: Dataset, tell: int) -> bool:
        """Open ``path`` with a header parsed already; False: open it afresh.

        ``ds`` is what ``pydicom.dcmread(fh, stop_before_pixels=True)`` (with
        ``force=True`` as a fallback, as :meth:`_dcmread` does) read from the
        file object ``fh`` of ``path``, and ``tell`` is ``fh.tell()`` after it:
        the same state :meth:`_open` reaches, without parsing the header a
        second time. Deflated data sets are not accepted (:meth:`_open`
        inflates them itself). When the Pixel Data element is not at ``tell``
        (the file changed since it was parsed) nothing is set up and the
        caller opens the file normally.
        """
        self.path = path
        self.dataset = ds
        self.transfer_syntax = self._syntax(ds)
        self._reader = _Reader(path=path)
        implicit, little = encoding(ds)
        loc = locate_pixel_data(self._reader, tell, little, implicit)
        if loc is None or self.transfer_syntax.is_deflated:
            self._reader.close()
            return False
        self._setup(loc)
        return True

    def _open(self, path: str | None, data: bytes | None, reader: Any = None) -> None:
        try:
            if reader is not None:  # a URL read by ranges (sources.http)
                fh = reader.filelike()
            elif path is not None and os.path.isdir(path):
                raise IsADirectoryError(path)
            else:
                fh = as_filelike(path, data)
        except OSError as exc:
            raise InvalidDicomError(f"cannot open: {exc}", path=path) from exc
        inflated = None
        try:
            # A deflated data set is inflated here, bounded (pydicom's own
            # inflation is not), and then read like any in-memory file.
            inflated = inflate_dataset(fh, self.memory_limit or memory_limit(), path)
            if inflated is not None:
                if path is not None:
                    fh.close()
                data, notes = inflated
                self.warnings.extend(notes)
                fh = as_filelike(None, data)
            ds = self._dcmread(fh, path)
            tell = fh.tell()
        finally:
            if path is not None and inflated is None:
                fh.close()
        self.dataset = ds
        if inflated is not None:
            ds.file_meta.TransferSyntaxUID = pydicom.uid.UID(tsyntax.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN)
        self.transfer_syntax = self._syntax(ds)
        self._reader = (reader if reader is not None and inflated is None
                        else _Reader(path=path, data=data))
        implicit, little = encoding(ds)
        loc = locate_pixel_data(self._reader, tell, little, implicit)
        self._setup(loc)

    def _dcmread(self, fh: Any, path: str | None) -> Dataset:
        path = path or "<in-memory>"  # every message names its source
        try:
            return pydicom.dcmread(fh, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            fh.seek(0)
        except Exception as exc:
            raise InvalidDicomError(f"unreadable DICOM header: {exc}", path=path) from exc
        try:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
        except Exception as exc:
            raise InvalidDicomError(f"not a DICOM file: {exc}", path=path) from exc
        if "Rows" not in ds:
            raise InvalidDicomError(
                "not a DICOM file (no 'DICM' prefix at byte 128 and no image "
                "attributes found)", path=path)
        return ds

    def _syntax(self, ds: Dataset) -> TransferSyntax:
        uid = None
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            uid = meta.get("TransferSyntaxUID", None)
        if not uid:
            implicit, little = encoding(ds)
            uid = (tsyntax.IMPLICIT_VR_LITTLE_ENDIAN if implicit else
                   tsyntax.EXPLICIT_VR_LITTLE_ENDIAN if little
                   else tsyntax.EXPLICIT_VR_BIG_ENDIAN)
            self.warnings.append(f"no Transfer Syntax UID in the file meta; "
                                 f"the encoding says {uid}")
        try:
            return lookup(str(uid))
        except UnsupportedTransferSyntaxError as exc:
            raise UnsupportedTransferSyntaxError(
                exc.message, path=self.path or "<in-memory>",
                transfer_syntax=str(uid)) from None

    def _open_dataset(self, ds: Dataset, keep_path: bool = False) -> None:
        if not keep_path:
            self.path = getattr(ds, "filename", None) if isinstance(
                getattr(ds, "filename", None), str) else None
        self.dataset = ds
        if not hasattr(self, "transfer_syntax"):
            self.transfer_syntax = self._syntax(ds)
        elem = None
        for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
            if kw in ds:
                elem = ds[kw]
                break
        if elem is None:
            self._reader = _Reader(data=b"")
            self._setup(None)
            return
        value = elem.value if elem.value is not None else b""
        self._reader = _Reader(data=bytes(value))
        self._from_dataset = True
        ts = self.transfer_syntax
        if ts.encapsulated:
            loc = PixelLocation(0, None, elem.VR, elem.keyword)
        else:
            loc = PixelLocation(0, len(value), elem.VR, elem.keyword)
        self._setup(loc)

    def _setup(self, loc: PixelLocation | None) -> None:
        ds = self.dataset
        if loc is None:
            raise self._err(InvalidDicomError, "the file holds no Pixel Data "
                            "(not an image, pixel data missing, or the file is "
                            "truncated before it)")
        self._loc = loc
        try:
            self.spec = self._make_spec(ds, loc)
        except DicomioError:
            raise
        except Exception as exc:  # pydicom converts elements lazily, and may fail
            raise self._err(InvalidDicomError, f"unreadable Image Pixel attribute: "
                            f"{type(exc).__name__}: {exc}") from None
        if self.transfer_syntax.encapsulated and loc.length is None:
            self._setup_fragments(loc)
        elif self.transfer_syntax.encapsulated:
            if loc.length != self._native_size(self.spec):
                raise self._err(InvalidDicomError,
                                "Pixel Data of an encapsulated Transfer Syntax has a "
                                "defined length (it must be a sequence of fragments)")
            # Seen in the wild: a file relabelled as compressed whose Pixel
            # Data was never compressed. The size proves it; read it as native.
            native = lookup("ExplicitVRLittleEndian" if encoding(ds)[1]
                            else "ExplicitVRBigEndian")
            self.warnings.append(
                f"Transfer Syntax says {self.transfer_syntax.keyword} but Pixel Data "
                "is not encapsulated and has exactly the uncompressed size; read as "
                "uncompressed")
            self.transfer_syntax = native
            self.spec = replace(self.spec, transfer_syntax=native)
            self._setup_native(loc)
        else:
            self._setup_native(loc)
        if self._reader is not None and not getattr(self, "_from_dataset", False):
            end = (self._frags.end if hasattr(self, "_frags")
                   else loc.offset + getattr(self, "_length", 0))
            note = trailing_data(self._reader, end)
            if note:
                self.warnings.append(note)

    def _make_spec(self, ds: Dataset, loc: PixelLocation) -> PixelSpec:
        rows = int_value(ds, "Rows")
        cols = int_value(ds, "Columns")
        if not rows or not cols or rows < 0 or cols < 0:
            raise self._err(InvalidDicomError,
                            f"(0028,0010) Rows {rows!r} / (0028,0011) Columns "
                            f"{cols!r}: both must be positive")
        spp = int_value(ds, "SamplesPerPixel", 1) or 1
        is_float = loc.keyword != "PixelData"
        ba = int_value(ds, "BitsAllocated", 64 if loc.keyword == "DoubleFloatPixelData"
                  else 32 if is_float else None)
        if ba is None or not (ba == 1 or (ba % 8 == 0 and 8 <= ba <= 64)):
            raise self._err(InvalidDicomError,
                            f"(0028,0100) Bits Allocated value of {ba!r} is invalid")
        bs = int_value(ds, "BitsStored", ba) or ba
        if bs > ba or bs < 1:
            self.warnings.append(f"(0028,0101) Bits Stored {bs} is outside 1..Bits "
                                 f"Allocated {ba}; using {ba}")
            bs = ba
        if spp not in (1, 3, 4):
            raise self._err(InvalidDicomError,
                            f"(0028,0002) Samples per Pixel value of {spp} is not "
                            "supported (1, 3 or 4)")
        pr = int_value(ds, "PixelRepresentation", 0) or 0
        pc = int_value(ds, "PlanarConfiguration", 0) or 0
        pi = str(_values.get(ds, "PhotometricInterpretation", "") or "").strip().upper()
        if not pi:
            pi = "MONOCHROME2" if spp == 1 else "RGB"
            self.warnings.append(f"no Photometric Interpretation; assuming {pi}")
        nf = int_value(ds, "NumberOfFrames", None)
        if nf is None or nf < 1:
            if "NumberOfFrames" in ds:
                self.warnings.append(f"(0028,0008) Number of Frames {ds.get('NumberOfFrames')!r}"
                                     " is invalid; counting frames from the data")
                self._count_frames = True  # _setup_native / _setup_fragments
            nf = 1
        return PixelSpec(
            transfer_syntax=self.transfer_syntax, rows=rows, columns=cols,
            samples_per_pixel=spp, bits_allocated=ba, bits_stored=bs,
            pixel_representation=1 if pr == 1 else 0, planar_configuration=1 if pc == 1 else 0,
            photometric=pi, number_of_frames=nf, float_pixels=is_float,
        )
