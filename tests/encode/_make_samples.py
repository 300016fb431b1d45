"""tools/make_samples.py loaded as a module: the reference decoders and PSNR
the encoder tests and the bundled-sample tests share."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIN_PSNR = 30.0  # dB, for every lossy round trip


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "make_samples", ROOT / "tools" / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_samples = _load_tool()
reference_decode = make_samples.reference_decode
psnr = make_samples.psnr
