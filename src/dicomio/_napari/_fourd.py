"""napari layers of 4-D series (fMRI, DWI, multi-echo) and Siemens mosaics.

A series with a :attr:`dicomio.series.Series.layout` becomes one image layer
of shape ``(t, z, y, x)``: napari shows a slider for the volume axis (named
after what varies: ``time``, ``echo``, ``volume``) next to the slice slider,
with ``scale``/``translate`` in mm on the spatial axes. Volumes decode lazily,
one dask chunk each; volume 0 is decoded now for the contrast limits. A single
mosaic is one small file: it is decoded now as ``(z, y, x)``.

Volumes decode as the other layers' chunks do (:mod:`._lazy`): through the
cache of open files, with ``on_error="recover"``, into the decode log. A
slice that fails (a truncated file, a frame no backend decodes) shows what
its file holds and 0 for the rest; a notification names it when it is first
decoded, however late (a volume the user scrolls to), and the layer's
``metadata["failed_frames"]`` lists it from then on (:mod:`._failed`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..series.fourd import volume_items
from ..series.mosaic import demosaic
from . import _failed, _lazy, _reader

#: Volume-axis label by the attribute the volumes differ in.
_AXIS_LABELS = {
    "TemporalPositionIdentifier": "time", "TemporalPositionIndex": "time",
    "AcquisitionNumber": "time", "TriggerTime": "time",
    "EchoNumbers": "echo", "EchoTime": "echo", "EffectiveEchoTime": "echo",
    "InversionTime": "inversion",
}


def axis_label(axis: tuple[str, ...]) -> str:
    """What napari calls the volume axis: time, echo, inversion or volume."""
    labels = {_AXIS_LABELS.get(k, "volume") for k in axis}
    return labels.pop() if len(labels) == 1 else "volume"


def layout_layer(series: Any, *, color: str = "rgb",
                 scan: dict[str, Any] | None = None) -> _reader.LayerData:
    """The ``(data, kwargs, "image")`` tuple of a 4-D or mosaic series."""
    layout = series.layout
    dtype = np.dtype(series.rescaled_dtype(color))
    frame_shape = tuple(int(v) for v in series._probe(color)[1])
    items = volume_items(series, rescale=True)
    per = layout.records_per_volume if layout.four_d else 1
    # The reader recovers what it can (docs/robustness.md, on_error), and
    # says so as each slice is decoded, now or when napari asks for it.
    failed = _failed.volume_failures(items, per, layout.mosaic, layout.four_d)
    _lazy.remember_headers(_reader._scanned_headers(series))
    first = decode_volume(tuple(items[:per]), frame_shape, dtype.str, color,
                          layout.mosaic)
    data: Any = first
    if layout.four_d:
        import dask.array as da

        import dask

        chunks = [da.from_delayed(dask.delayed(decode_volume, pure=True)(
                      tuple(items[v * per:(v + 1) * per]), frame_shape, dtype.str,
                      color, layout.mosaic), shape=first.shape, dtype=dtype)
                  for v in range(layout.n_volumes)]
        data = da.stack(chunks)
    prov = _lazy.provenance(items[0][0], items[0][1]) or {}
    geom = series.geometry
    dz, dy, dx = (float(v) for v in geom.spacing)
    direction = np.asarray(geom.direction, dtype=float)
    t_row, t_col, t_normal = direction.T @ np.asarray(geom.origin, dtype=float)
    scale: tuple[float, ...] = (dz, dy, dx)
    translate: tuple[float, ...] = (float(t_normal), float(t_col), float(t_row))
    units: tuple[str, ...] = ("mm", "mm", "mm")
    labels: tuple[str, ...] = ("z", "y", "x")
    if layout.four_d:
        scale, translate = (1.0, *scale), (0.0, *translate)
        units, labels = ("pixel", *units), (axis_label(layout.axis), *labels)
    ds0 = series.headers[0]
    sample = first[len(first) // 2] if layout.four_d else first
    limits = _reader.window_limits(ds0) or _reader._sample_limits(np.asarray(sample))
    name = _reader._layer_name(series, series.slices[0][0])
    for text in series.warnings:
        _reader._notify(f"{name}: {text}")
    metadata = {
        # What decoding volume 0 gave (the decode log), as series.read() says.
        "photometric": prov.get("photometric") or series.photometric,
        "decoder": prov.get("backend") or series.decoder,
        "transfer_syntaxes": sorted(series.transfer_syntaxes),
        "slices": [[p, f] for p, f in series.slices],
        "rescale": True,
        "dtype": str(np.dtype(dtype)),
        "series": _reader._series_dict(series),
        "volumes": {
            "n": layout.n_volumes, "axis": list(layout.axis),
            "values": [{k: _plain(v) for k, v in d.items()} for d in layout.values],
            "mosaic": layout.mosaic is not None,
        },
        "diffusion": series.diffusion,
        "geometry": _reader._geometry_dict(geom),
        "scan": dict(scan or {}),
        "failed_frames": failed,
    }
    kwargs = {"name": name, "rgb": False, "scale": scale, "translate": translate,
              "units": units, "axis_labels": labels, "contrast_limits": limits,
              "metadata": metadata}
    return data, kwargs, "image"


def decode_volume(items: tuple[_lazy.Item, ...], frame_shape: tuple[int, ...],
                  dtype: str, color: str, mosaic: Any) -> np.ndarray:
    """One volume ``(z, y, x)`` of a layer: its records decoded (recovered,
    logged, failures notified) as a chunk of an ordinary layer is; a
    mosaic's one record cut into its slices."""
    stack = _lazy.decode_chunk(items, frame_shape, dtype, color)
    return demosaic(stack, mosaic)[0] if mosaic is not None else stack


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
