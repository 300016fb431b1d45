"""Every DICOM Transfer Syntax dicomio knows, with the facts the decoder needs.

One :class:`TransferSyntax` record per UID: its pydicom-style keyword, the codec
family, whether it is lossy and encapsulated, and the Photometric
Interpretations that PS3.5 (section 8.2 and Annex A.4) allows for its stream.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "TransferSyntax",
    "TRANSFER_SYNTAXES",
    "lookup",
    "FAMILIES",
    "IMPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_LITTLE_ENDIAN",
    "EXPLICIT_VR_BIG_ENDIAN",
    "DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN",
    "UNCOMPRESSED",
]

#: Codec families, in the order the support table lists them.
FAMILIES = (
    "native",
    "deflate",
    "rle",
    "jpeg",
    "jpegls",
    "jpeg2k",
    "htj2k",
    "jpegxl",
    "video",
)

#: The UIDs code names one by one (the header's own encodings).
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
DEFLATED_IMAGE_FRAME_COMPRESSION = "1.2.840.10008.1.2.8.1"
#: Uncompressed and not deflated: reading a frame is a copy, not a decode.
UNCOMPRESSED = frozenset(
    {IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_BIG_ENDIAN})

_MONO = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")
_ANY = _MONO + ("RGB", "YBR_FULL", "YBR_FULL_422")


@dataclass(frozen=True)
class TransferSyntax:
    """Static facts about one Transfer Syntax.

    Attributes
    ----------
    uid : str
        The Transfer Syntax UID.
    keyword : str
        The DICOM keyword, as pydicom spells it (``"JPEGBaseline8Bit"``).
    family : str
        The codec family, one of :data:`FAMILIES`.
    lossy : bool
        True when the syntax allows lossy compression.
    encapsulated : bool
        True when Pixel Data is stored as fragments.
    photometric : tuple of str
        Photometric Interpretations PS3.5 allows for the encoded stream.
    process : str
        For JPEG (ISO/IEC 10918-1), the processes the syntax allows, as PS3.6
        names them (``"Process 10 & 12 (full progression, Huffman)"``).
    retired : bool
        True when PS3.6 lists the syntax as retired (still found in archives).
    """

    uid: str
    keyword: str
    family: str
    lossy: bool
    encapsulated: bool
    photometric: tuple[str, ...] = _ANY
    process: str = ""
    retired: bool = False

    @property
    def name(self) -> str:
        """The keyword, for messages."""
        return self.keyword

    @property
    def is_deflated(self) -> bool:
        """True when the whole dataset is deflated (1.2.840.10008.1.2.1.99)."""
        return self.uid == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN

    @property
    def is_big_endian(self) -> bool:
        """True for Explicit VR Big Endian (retired, still found in archives)."""
        return self.uid == EXPLICIT_VR_BIG_ENDIAN

    def __str__(self) -> str:
        return f"{self.keyword} ({self.uid})"


def _ts(uid: str, keyword: str, family: str, lossy: bool, encaps: bool,
        pi: tuple[str, ...] = _ANY, process: str = "",
        retired: bool = False) -> TransferSyntax:
    return TransferSyntax("1.2.840.10008." + uid, keyword, family, lossy, encaps, pi,
                          process, retired)


def _rj(n: int, keyword: str, process: str, lossy: bool = True) -> TransferSyntax:
    """A retired JPEG (ISO/IEC 10918-1) Transfer Syntax, 1.2.840.10008.1.2.4.n."""
    pi = _ANY if lossy else _J_LOSSLESS
    return _ts(f"1.2.4.{n}", keyword, "jpeg", lossy, True, pi, process, True)


_J_LOSSLESS = _MONO + ("RGB", "YBR_FULL")
_J2K = _MONO + ("RGB", "YBR_FULL", "YBR_RCT", "YBR_ICT")
_J2K_LOSSLESS = _MONO + ("RGB", "YBR_FULL", "YBR_RCT")
_VIDEO = ("MONOCHROME2", "YBR_PARTIAL_420")

#: Every Transfer Syntax known to dicomio, keyed by UID.
TRANSFER_SYNTAXES: dict[str, TransferSyntax] = {
    t.uid: t
    for t in (
        _ts("1.2", "ImplicitVRLittleEndian", "native", False, False),
        _ts("1.2.1", "ExplicitVRLittleEndian", "native", False, False),
        _ts("1.2.2", "ExplicitVRBigEndian", "native", False, False),
        _ts("1.2.1.99", "DeflatedExplicitVRLittleEndian", "native", False, False),
        _ts("1.2.1.98", "EncapsulatedUncompressedExplicitVRLittleEndian",
            "native", False, True),
        _ts("1.2.8.1", "DeflatedImageFrameCompression", "deflate", False, True),
        _ts("1.2.5", "RLELossless", "rle", False, True, _J_LOSSLESS),
        _ts("1.2.4.50", "JPEGBaseline8Bit", "jpeg", True, True, _ANY,
            "Process 1 (baseline)"),
        _ts("1.2.4.51", "JPEGExtended12Bit", "jpeg", True, True, _ANY,
            "Process 2 & 4 (extended sequential, Huffman)"),
        _ts("1.2.4.57", "JPEGLossless", "jpeg", False, True, _J_LOSSLESS,
            "Process 14 (lossless, Huffman)"),
        _ts("1.2.4.70", "JPEGLosslessSV1", "jpeg", False, True, _J_LOSSLESS,
            "Process 14, Selection Value 1 (lossless, Huffman)"),
        # Retired JPEG processes (PS3.6 Table A-1): arithmetic coding,
        # progressive and hierarchical modes.
        _rj(52, "JPEGExtended35", "Process 3 & 5 (extended sequential, arithmetic)"),
        _rj(53, "JPEGSpectralSelectionNonHierarchical68",
            "Process 6 & 8 (spectral selection, Huffman)"),
        _rj(54, "JPEGSpectralSelectionNonHierarchical79",
            "Process 7 & 9 (spectral selection, arithmetic)"),
        _rj(55, "JPEGFullProgressionNonHierarchical1012",
            "Process 10 & 12 (full progression, Huffman)"),
        _rj(56, "JPEGFullProgressionNonHierarchical1113",
            "Process 11 & 13 (full progression, arithmetic)"),
        _rj(58, "JPEGLosslessNonHierarchical15", "Process 15 (lossless, arithmetic)",
            lossy=False),
        _rj(59, "JPEGExtendedHierarchical1618",
            "Process 16 & 18 (hierarchical extended, Huffman)"),
        _rj(60, "JPEGExtendedHierarchical1719",
            "Process 17 & 19 (hierarchical extended, arithmetic)"),
        _rj(61, "JPEGSpectralSelectionHierarchical2022",
            "Process 20 & 22 (hierarchical spectral selection, Huffman)"),
        _rj(62, "JPEGSpectralSelectionHierarchical2123",
            "Process 21 & 23 (hierarchical spectral selection, arithmetic)"),
        _rj(63, "JPEGFullProgressionHierarchical2426",
            "Process 24 & 26 (hierarchical full progression, Huffman)"),
        _rj(64, "JPEGFullProgressionHierarchical2527",
            "Process 25 & 27 (hierarchical full progression, arithmetic)"),
        _rj(65, "JPEGLosslessHierarchical28", "Process 28 (hierarchical lossless, "
            "Huffman)", lossy=False),
        _rj(66, "JPEGLosslessHierarchical29", "Process 29 (hierarchical lossless, "
            "arithmetic)", lossy=False),
        _ts("1.2.4.80", "JPEGLSLossless", "jpegls", False, True, _J_LOSSLESS),
        _ts("1.2.4.81", "JPEGLSNearLossless", "jpegls", True, True, _J_LOSSLESS),
        _ts("1.2.4.90", "JPEG2000Lossless", "jpeg2k", False, True, _J2K_LOSSLESS),
        _ts("1.2.4.91", "JPEG2000", "jpeg2k", True, True, _J2K),
        _ts("1.2.4.92", "JPEG2000MCLossless", "jpeg2k", False, True, _J2K_LOSSLESS),
        _ts("1.2.4.93", "JPEG2000MC", "jpeg2k", True, True, _J2K),
        _ts("1.2.4.201", "HTJ2KLossless", "htj2k", False, True, _J2K_LOSSLESS),
        _ts("1.2.4.202", "HTJ2KLosslessRPCL", "htj2k", False, True, _J2K_LOSSLESS),
        _ts("1.2.4.203", "HTJ2K", "htj2k", True, True, _J2K),
        _ts("1.2.4.110", "JPEGXLLossless", "jpegxl", False, True, _J_LOSSLESS),
        _ts("1.2.4.111", "JPEGXLJPEGRecompression", "jpegxl", True, True),
        _ts("1.2.4.112", "JPEGXL", "jpegxl", True, True, _J_LOSSLESS),
        _ts("1.2.4.100", "MPEG2MPML", "video", True, True, _VIDEO),
        _ts("1.2.4.101", "MPEG2MPHL", "video", True, True, _VIDEO),
        _ts("1.2.4.102", "MPEG4HP41", "video", True, True, _VIDEO),
        _ts("1.2.4.103", "MPEG4HP41BD", "video", True, True, _VIDEO),
        _ts("1.2.4.104", "MPEG4HP422D", "video", True, True, _VIDEO),
        _ts("1.2.4.105", "MPEG4HP423D", "video", True, True, _VIDEO),
        _ts("1.2.4.106", "MPEG4HP42STEREO", "video", True, True, _VIDEO),
        _ts("1.2.4.107", "HEVCMP51", "video", True, True, _VIDEO),
        _ts("1.2.4.108", "HEVCM10P51", "video", True, True, _VIDEO),
    )
}

_BY_KEYWORD = {t.keyword: t for t in TRANSFER_SYNTAXES.values()}


def lookup(uid_or_keyword: str) -> TransferSyntax:
    """Return the :class:`TransferSyntax` for a UID or keyword.

    Raises
    ------
    dicomio.UnsupportedTransferSyntaxError
        When the UID is not a known image Transfer Syntax.
    """
    key = str(uid_or_keyword).strip().rstrip("\x00").strip()
    ts = TRANSFER_SYNTAXES.get(key) or _BY_KEYWORD.get(key)
    if ts is None:
        from .errors import UnsupportedTransferSyntaxError

        raise UnsupportedTransferSyntaxError(
            f"unknown Transfer Syntax UID {key!r}; dicomio knows "
            f"{len(TRANSFER_SYNTAXES)} syntaxes (see 'dicomio doctor')"
        )
    return ts
