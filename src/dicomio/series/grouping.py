"""Grouping, splitting and ordering: records become :class:`Series` parts.

Records of one SeriesInstanceUID are split where they cannot form one regular
array (different matrix, pixel spacing, orientation or samples per pixel),
then per repetition of the same positions (temporal position, echo, stack,
acquisition, ...), and every part is ordered along the slice normal. Pure: no
I/O and no warnings issued (the scan issues them).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import fourd as _fourd
from .geometry import _PIXEL_SPACING_RTOL, ORIENTATION_TOLERANCE, POSITION_TOLERANCE
from .reader import Series
from .records import _SPLIT_KEYS, _get, _normal, _Rec, _sort_value


def _close_orientation(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return max(abs(x - y) for x, y in zip(a, b)) <= ORIENTATION_TOLERANCE


def _close_spacing(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(abs(x - y) <= _PIXEL_SPACING_RTOL * max(abs(x), abs(y), 1e-9)
               for x, y in zip(a, b))


def _split_geometry(recs: list[_Rec]) -> list[tuple[dict[str, Any], list[_Rec]]]:
    """Clusters of records that can share one array and one orientation."""
    clusters: list[list[_Rec]] = []
    for r in recs:
        for c in clusters:
            h = c[0]
            if ((r.rows, r.columns, r.samples) == (h.rows, h.columns, h.samples)
                    and _close_spacing(r.pixel_spacing, h.pixel_spacing)
                    and _close_orientation(r.iop, h.iop)):
                c.append(r)
                break
        else:
            clusters.append([r])
    if len(clusters) == 1:
        return [({}, clusters[0])]
    sigs = [{
        "Rows": c[0].rows,
        "Columns": c[0].columns,
        "SamplesPerPixel": c[0].samples,
        "PixelSpacing": c[0].pixel_spacing,
        "ImageOrientationPatient": c[0].iop,
    } for c in clusters]
    varying = [k for k in sigs[0] if len({repr(s[k]) for s in sigs}) > 1]
    if not varying:  # tolerance-level differences only: name orientation
        varying = ["ImageOrientationPatient"]
    return [({k: s[k] for k in varying}, c) for s, c in zip(sigs, clusters)]


def _locations(recs: list[_Rec], normal: np.ndarray) -> list[int]:
    """A location id per record: equal ids share a position along the normal."""
    proj = [float(np.dot(r.ipp, normal)) for r in recs]  # type: ignore[arg-type]
    order = sorted(range(len(recs)), key=lambda i: proj[i])
    ids = [0] * len(recs)
    loc, prev = -1, -math.inf
    for i in order:
        if proj[i] - prev > POSITION_TOLERANCE:
            loc += 1
        ids[i] = loc
        prev = proj[i]
    return ids


def _max_multiplicity(ids: list[int]) -> int:
    counts: dict[int, int] = defaultdict(int)
    for i in ids:
        counts[i] += 1
    return max(counts.values()) if counts else 0


@dataclass
class _Part:
    split: dict[str, Any]
    recs: list[_Rec]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    time_series: str | None = None  # key ordering a single-position series


def _split_repeats(recs: list[_Rec], split: dict[str, Any]) -> list[_Part]:
    """Split records whose positions repeat into one part per repetition."""
    if any(r.ipp is None or r.iop is None for r in recs) or len(recs) < 2:
        return [_Part(split, recs)]
    normal = _normal(recs[0].iop)  # type: ignore[arg-type]
    ids = _locations(recs, normal)
    m = _max_multiplicity(ids)
    if m == 1:
        return [_Part(split, recs)]
    if len(set(ids)) == 1:
        # Every image at one position: a time series of one slice (cine,
        # perfusion), kept whole and ordered by what varies.
        key = next((k for k in _SPLIT_KEYS
                    if all(k in r.keys for r in recs)
                    and len({r.keys[k] for r in recs}) > 1), None)
        part = _Part(split, recs, time_series=key or "InstanceNumber")
        return [part]
    for clean_only in (True, False):
        for key in _SPLIT_KEYS:
            if not all(key in r.keys for r in recs):
                continue
            groups: dict[Any, list[int]] = defaultdict(list)
            for i, r in enumerate(recs):
                groups[r.keys[key]].append(i)
            if len(groups) < 2 or len(groups) > m:
                # More groups than repeats means a per-slice value
                # (AcquisitionTime in sequential CT): not a dimension.
                continue
            sub_m = [_max_multiplicity([ids[i] for i in g]) for g in groups.values()]
            if clean_only and max(sub_m) != 1:
                continue
            if not clean_only and max(sub_m) >= m:
                continue
            parts = []
            for value in sorted(groups, key=_sort_value):
                sub = [recs[i] for i in groups[value]]
                parts.extend(_split_repeats(sub, {**split, key: value}))
            return parts
    counts: dict[int, int] = defaultdict(int)
    for i in ids:
        counts[i] += 1
    if len(set(counts.values())) == 1:
        # Every position repeated m times and nothing names the repetition:
        # the k-th image (by InstanceNumber) at each position joins volume k.
        per_loc: dict[int, list[int]] = defaultdict(list)
        for i in sorted(range(len(recs)), key=lambda i: recs[i].sort_tail):
            per_loc[ids[i]].append(i)
        parts = []
        text = (f"{len(recs)} images share each of {len(counts)} positions "
                f"{m} times and no attribute ({', '.join(_SPLIT_KEYS[:6])}, ...) "
                f"tells the repetitions apart; they were split into {m} volumes "
                "by InstanceNumber order.")
        for k in range(m):
            sub = [recs[idx[k]] for idx in per_loc.values()]
            parts.append(_Part({**split, "repetition": k + 1}, sub,
                               warnings=[text]))
        return parts
    return [_Part(split, recs)]


def _joins_4d(recs: list[_Rec], four_d: bool | None) -> bool:
    """Whether the volumes of one series become a 4-D series (see scan)."""
    if four_d is not None:
        return four_d
    return str(_get(recs[0].header, "Modality", "") or "").strip().upper() == "MR"


def _make_series(recs: list[_Rec], kind: str, split: dict[str, Any],
                 warns: list[str], notes: list[str], layout: Any = None) -> Series:
    return Series(recs, kind, split, warns, notes, layout=layout)


def _assemble(records: list[_Rec], four_d: bool | None = None) -> list[Series]:
    """Group records into ordered series (pure: no I/O, no warnings emitted)."""
    groups: dict[tuple[str, str], list[_Rec]] = defaultdict(list)
    for r in records:
        if r.mosaic is not None:
            groups[("mosaic", r.series_uid or f"file:{r.path}")].append(r)
        elif r.kind == "classic":
            groups[("frames", r.path)].append(r)
        else:
            # Without a SeriesInstanceUID each file stands alone.
            groups[("series", r.series_uid or f"file:{r.path}")].append(r)
    series: list[Series] = []
    for (kind, _), recs in groups.items():
        if kind == "frames":
            recs.sort(key=lambda r: r.frame)
            series.append(Series(recs, "frames", {}, [], []))
            continue
        if kind == "mosaic":
            built = _fourd.mosaic_series(recs, _make_series, four_d is not False)
        else:
            parts: list[_Part] = []
            for split, cluster in _split_geometry(recs):
                parts.extend(_split_repeats(cluster, split))
            built = [_build_part(p) for p in parts]
            if len(built) > 1 and _joins_4d(recs, four_d):
                built = _fourd.join(built, _make_series)
        for i, s in enumerate(built):
            s.part = i + 1
            s.n_parts = len(built)
        series.extend(built)
    series.sort(key=_series_sort_key)
    return series


def _series_sort_key(s: Series) -> tuple[Any, ...]:
    number = s.number if s.number is not None else math.inf
    return (str(_get(s.headers[0], "StudyInstanceUID", "")), number, s.uid,
            s.part, s.slices[0][0])


def _build_part(part: _Part) -> Series:
    recs = part.recs
    notes = list(part.notes)
    warns = list(part.warnings)
    if part.time_series is not None:
        key = part.time_series
        if key == "InstanceNumber":
            recs = sorted(recs, key=lambda r: r.sort_tail)
        else:
            recs = sorted(recs, key=lambda r: (_sort_value(r.keys[key]), r.sort_tail))
        notes.append(f"All {len(recs)} images share one position: kept as a "
                     f"time series, axis 0 ordered by {key}.")
        return Series(recs, "frames", part.split, warns, notes)
    positioned = [r for r in recs if r.ipp is not None and r.iop is not None]
    if len(positioned) == len(recs):
        normal = _normal(recs[0].iop)  # type: ignore[arg-type]
        # Sort by location id, not raw projection, so images within
        # POSITION_TOLERANCE of each other count as tied and follow the
        # tie-break order instead of sub-micron noise.
        ids = _locations(recs, normal)
        order = sorted(range(len(recs)), key=lambda i: (ids[i], recs[i].sort_tail))
        recs, ids = [recs[i] for i in order], [ids[i] for i in order]
        ties = [k for k in range(len(ids) - 1) if ids[k] == ids[k + 1]]
        if ties:
            has_numbers = all(r.instance is not None for r in recs)
            by = "InstanceNumber, then file name" if has_numbers else "file name"
            first = ties[0]
            where = float(np.dot(recs[first].ipp, normal))  # type: ignore[arg-type]
            warns.append(
                f"{len(set(ids[k] for k in ties))} position(s) are shared by more "
                f"than one image (first at {where:.3f} mm along the normal, "
                f"slices {first} and {first + 1}); tied images are ordered by "
                f"{by}.")
        return Series(recs, "volume", part.split, warns, notes)
    recs = sorted(recs, key=lambda r: r.sort_tail)
    if len(recs) > 1:
        missing = len(recs) - len(positioned)
        has_numbers = all(r.instance is not None for r in recs)
        by = "InstanceNumber, then file name" if has_numbers else "file name"
        what = ("no image has" if missing == len(recs)
                else f"{missing} of {len(recs)} images lack")
        warns.append(f"{what} ImagePositionPatient/ImageOrientationPatient: "
                     f"slices are ordered by {by}, not by position.")
    return Series(recs, "images", part.split, warns, notes)

