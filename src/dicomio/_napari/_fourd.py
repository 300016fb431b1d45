"""napari layers of 4-D series (fMRI, DWI, multi-echo) and Siemens mosaics.

A series with a :attr:`dicomio.series.Series.layout` becomes one image layer
of shape ``(t, z, y, x)``: napari shows a slider for the volume axis (named
after what varies: ``time``, ``echo``, ``volume``) next to the slice slider,
with ``scale``/``translate`` in mm on the spatial axes. Volumes decode lazily,
one dask chunk each; volume 0 is decoded now for the contrast limits. A single
mosaic is one small file: it is decoded now as ``(z, y, x)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _reader

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
    dtype = series.rescaled_dtype(color)
    # The reader recovers what it can (docs/robustness.md, on_error).
    first = series.read(0, rescale=True, color=color, on_error="recover")
    data: Any
    if not layout.four_d:
        data = series.read(rescale=True, color=color, on_error="recover")
    else:
        import dask.array as da

        import dask

        tasks = series.slice_tasks(rescale=True, color=color)
        chunks = [da.from_delayed(dask.delayed(task, pure=True)(),
                                  shape=first.shape, dtype=dtype)
                  for task in tasks]
        data = da.stack(chunks)
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
        "photometric": series.photometric,
        "decoder": series.decoder,
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
    }
    kwargs = {"name": name, "rgb": False, "scale": scale, "translate": translate,
              "units": units, "axis_labels": labels, "contrast_limits": limits,
              "metadata": metadata}
    return data, kwargs, "image"


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
