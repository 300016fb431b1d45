"""Opening: the source, the header, and the plan of the pixels.

A file is read up to Pixel Data (pydicom, ``stop_before_pixels``; a deflated
data set is inflated first, bounded), its Transfer Syntax looked up, Pixel
Data located, the Image Pixel attributes checked into a
:class:`~dicomio.backends._base.PixelSpec`, and the frames laid out
(:mod:`.frames`). Defects that can be tolerated go to ``warnings``; the rest
raise :class:`~dicomio.errors.InvalidDicomError` naming the file.

A header pydicom refuses (or misreads, so that no Pixel Data follows it) is
read again by :mod:`dicomio.dataset.tolerant`; Pixel Data that is really a
compressed stream under a native Transfer Syntax is read with the syntax
its codestream names (:mod:`dicomio.pixels.identify`); valid elements after
Pixel Data join the header, and only bytes that are no data element are
reported.
"""

from __future__ import annotations

import os
import struct
from dataclasses import replace
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from .. import tsyntax
from ..backends._base import PixelSpec
from ..dataset import elements as _values
from ..dataset import tolerant
from ..dataset.deflated import inflate_dataset
from ..errors import DicomioError, InvalidDicomError, UnsupportedTransferSyntaxError
from ..pixels.frames import Fragments, PixelLocation, locate_pixel_data, trailing_data
from ..pixels.identify import syntax_of_stream
from ..sources.local import _Reader, as_filelike
from ..tsyntax import TransferSyntax, lookup
from .frames import FrameLayout
from .header import encoding, int_value
from .limits import memory_limit

#: Elements after Pixel Data up to this size join the header (larger runs are
#: still accepted silently, but left out).
_TRAILING_LIMIT = 16 << 20
#: Bytes of a frame read to tell which codestream it is.
_SNIFF = 1 << 20


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
            ds, tell = self._dcmread(fh, path)
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
        if loc is None and inflated is None and reader is None:
            loc = self._reparse(path, data)
        self._setup(loc)

    def _dcmread(self, fh: Any, path: str | None) -> tuple[Dataset, int]:
        """The header up to Pixel Data, and where it stopped."""
        name = path or "<in-memory>"  # every message names its source
        try:
            ds = pydicom.dcmread(fh, stop_before_pixels=True)
            return ds, fh.tell()
        except pydicom.errors.InvalidDicomError:
            fh.seek(0)
        except Exception as exc:
            return self._tolerant(fh, name, f"unreadable DICOM header: {exc}", exc)
        try:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
        except Exception as exc:
            return self._tolerant(fh, name, f"not a DICOM file: {exc}", exc)
        if "Rows" not in ds:
            return self._tolerant(
                fh, name, "not a DICOM file (no 'DICM' prefix at byte 128 and no "
                "image attributes found)", None)
        return ds, fh.tell()

    def _tolerant(self, fh: Any, name: str, message: str,
                  cause: Exception | None) -> tuple[Dataset, int]:
        """pydicom refused the header: read it as GDCM would, or raise ``message``."""
        try:
            head = tolerant.read_header(fh, name)
        except Exception:  # noqa: BLE001 - pydicom's reason is the one to give
            head = None
        if head is None or "Rows" not in head.dataset:
            raise InvalidDicomError(message, path=name) from cause
        self.warnings.extend(head.notes)
        return head.dataset, head.tell

    def _reparse(self, path: str | None, data: bytes | None) -> PixelLocation | None:
        """pydicom read a header but no Pixel Data follows it: it may have
        misread a sequence (byte-swapped items). Read the header again
        tolerantly; keep it when it does lead to Pixel Data."""
        fh = as_filelike(path, data)
        try:
            head = tolerant.read_header(fh, path)
        except Exception:  # noqa: BLE001 - then the file holds no Pixel Data
            return None
        finally:
            if path is not None:
                fh.close()
        implicit, little = encoding(head.dataset)
        assert self._reader is not None
        loc = locate_pixel_data(self._reader, head.tell, little, implicit)
        if loc is None or "Rows" not in head.dataset:
            return None
        self.warnings.extend(head.notes)
        self.dataset = head.dataset
        return loc

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
            what = ("File Meta has no Transfer Syntax UID" if meta else
                    "no File Meta (so no Transfer Syntax UID)")
            self.warnings.append(f"{what}: assumed "
                                 f"{tolerant.describe((implicit, little))} from the "
                                 "first elements")
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
        elif (uid := self._misfiled_stream(loc)) is not None:
            self._setup_misfiled(loc, uid)
        else:
            self._setup_native(loc)
        if self._reader is not None and not getattr(self, "_from_dataset", False):
            end = (self._frags.end if hasattr(self, "_frags")
                   else loc.offset + getattr(self, "_length", 0))
            self._after_pixels(end)

    def _after_pixels(self, end: int) -> None:
        """Elements stored after Pixel Data join the header; garbage is reported."""
        assert self._reader is not None
        implicit, little = encoding(self.dataset)
        spans: list[tuple[int, int]] = []
        stop = tolerant.elements_end(self._reader, end, implicit, little, spans=spans)
        if spans and spans[-1][1] - spans[0][0] <= _TRAILING_LIMIT:
            data = b"".join(self._reader.read(a, b - a) for a, b in spans)
            try:
                extra = tolerant.read_elements(data, implicit, little)
                for tag in extra.keys():  # raw: converted when read, like the rest
                    if tag not in self.dataset and tag >> 16 < 0xFFFC:
                        self.dataset[tag] = extra.get_item(tag)
            except Exception:  # noqa: BLE001 - valid headers, odd values: leave them
                pass
        note = trailing_data(self._reader, max(stop, end))
        if note:
            self.warnings.append(note)

    def _misfiled_stream(self, loc: PixelLocation) -> str | None:
        """The UID of the compressed stream in the Pixel Data of a native
        syntax (a writer compressed the pixels and kept the File Meta), or None."""
        if self.transfer_syntax.family != "native" or self._reader is None \
                or getattr(self, "_from_dataset", False):
            return None
        if loc.length is not None:  # a bare codestream, smaller than the pixels
            if loc.length >= self._native_size(self.spec):
                return None
            head = self._reader.read(loc.offset, min(loc.length, _SNIFF))
            return syntax_of_stream(head)
        # Undefined length: items. Skip the offset table, look at fragment 1.
        pos, lengths = loc.offset, []
        for _ in range(2):
            tag, size = struct.unpack("<II", self._reader.read(pos, 8).ljust(8, b"\0"))
            if tag != 0xE000FFFE or size == 0xFFFFFFFF:
                break
            lengths.append(size)
            pos += 8 + size
        if len(lengths) < 2:
            return "?"  # _setup_misfiled says why this is unreadable
        first = self._reader.read(pos - lengths[1], min(lengths[1], _SNIFF))
        uid = syntax_of_stream(first)
        if uid is None and lengths[1] in (self.spec.native_frame_nbytes,
                                          self.spec.native_frame_nbytes + 1):
            uid = "1.2.840.10008.1.2.1.98"  # encapsulated uncompressed
        return uid or "?"

    def _setup_misfiled(self, loc: PixelLocation, uid: str) -> None:
        declared = self.transfer_syntax
        try:
            ts = lookup(uid)
        except UnsupportedTransferSyntaxError:
            what = (f"a stream of Transfer Syntax {uid}, which dicomio does not know"
                    if uid != "?" else "no codestream dicomio recognises")
            raise self._err(InvalidDicomError,
                            f"Pixel Data is encapsulated although the Transfer Syntax "
                            f"says {declared.keyword}, and it holds {what}") from None
        self.warnings.append(f"Pixel Data is an encapsulated {ts.keyword} stream "
                             f"although the Transfer Syntax says {declared.keyword}")
        self.transfer_syntax = ts
        self.spec = replace(self.spec, transfer_syntax=ts)
        if loc.length is None:
            self._setup_fragments(loc)
            return
        # One bare codestream (no items): one frame.
        self._frags = Fragments(offsets=[loc.offset], lengths=[loc.length],
                                end=loc.offset + loc.length)
        if self.spec.number_of_frames > 1:
            self.warnings.append(f"(0028,0008) Number of Frames says "
                                 f"{self.spec.number_of_frames} but the data holds "
                                 "only 1; reading 1")
            self._replace_frames(1)
        self._groups = [[0]]

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
