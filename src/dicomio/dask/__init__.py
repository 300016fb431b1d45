"""dask integration: lazy arrays over files and series, and bulk jobs.

dicomio does not schedule work across machines itself. Instead it gives dask
a graph that any dask scheduler can run: the threaded, process and
synchronous schedulers on one machine, or a ``dask.distributed`` cluster.

* :func:`to_dask` turns a multi-frame file, a :class:`~dicomio.series.Series`
  or a folder/DICOMDIR holding one series into a lazy ``dask.array.Array``.
  Each chunk is one task holding only a path, frame indices and decode
  options. The task opens the file (reading the header only), decodes just
  its frames and closes it, so the graph pickles small and runs on remote
  workers.
* :func:`decompress_many` and :func:`decode_many` run one task per file and
  return one report per file. A bad file never stops the others.
  :func:`decompress_many` writes every output atomically, and a re-run redoes
  only the outputs that are missing.

See ``docs/dask.md`` for a guide (local cluster, existing cluster, CLI).

>>> import dicomio
>>> arr = dicomio.to_dask("multiframe.dcm")          # doctest: +SKIP
>>> arr.chunks[0][:3], arr.dtype                     # doctest: +SKIP
((1, 1, 1), dtype('uint8'))
>>> arr[10:20].mean().compute()                      # doctest: +SKIP
"""

from __future__ import annotations

from .arrays import to_dask
from .many import decode_many, decompress_many, output_complete, transcode_many

__all__ = ["to_dask", "decompress_many", "decode_many", "output_complete",
           "transcode_many"]
