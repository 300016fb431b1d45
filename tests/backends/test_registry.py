"""Backend registry: order, forcing, third-party backends, missing libraries."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dicomio
from dicomio import DicomImage, registry, samples
from dicomio.backends._base import Backend, Decoded, FrameContext

RLE = "1.2.840.10008.1.2.5"


class _CountingRLE(Backend):
    """A third-party backend: delegates to the native RLE decoder and counts."""

    name = "counting-rle"
    install = "pip install counting-rle"
    modules = ("numpy",)
    syntaxes = frozenset({RLE})

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def decode(self, data: bytes, ctx: FrameContext) -> Decoded:
        from dicomio.backends.native import rle_decode_frame

        self.calls += 1
        out = rle_decode_frame(data, ctx.spec)
        out.color = "RGB" if ctx.spec.samples_per_pixel == 3 else "MONOCHROME"
        return out


class _Missing(Backend):
    name = "needs-missing-lib"
    install = "pip install definitely-not-installed-codec"
    modules = ("definitely_not_installed_codec",)
    syntaxes = frozenset({RLE})


def test_default_order_puts_imagecodecs_first():
    img = DicomImage(samples.path("JPEG2000Lossless"))
    names = [b.name for b in registry.candidates(img.spec)]
    assert names[0] == "imagecodecs"
    assert set(names) >= {"imagecodecs", "pylibjpeg", "gdcm"}


def test_register_third_party_backend_first_and_last():
    be = _CountingRLE()
    path = samples.path("RLELossless")
    try:
        registry.register(be, first=True)
        img = DicomImage(path)
        arr = img.read()
        assert img.decoder == "counting-rle" and be.calls == img.n_frames
        np.testing.assert_array_equal(arr, samples.expected("RLELossless"))
        registry.register(be)  # now after the built-ins
        img = DicomImage(path)
        img.read()
        assert img.decoder == "imagecodecs"
        assert "counting-rle" in registry.names()
    finally:
        registry.unregister("counting-rle")
    assert "counting-rle" not in registry.names()


def test_missing_library_names_what_to_install():
    be = _Missing()
    try:
        registry.register(be)
        with pytest.raises(dicomio.BackendUnavailableError) as exc:
            DicomImage(samples.path("RLELossless"), backend="needs-missing-lib").read()
        assert "pip install definitely-not-installed-codec" in str(exc.value)
        assert isinstance(exc.value, ImportError)
        assert not be.available()
        assert "definitely_not_installed_codec" in be.unavailable_reason
    finally:
        registry.unregister("needs-missing-lib")


def test_register_rejects_non_backends():
    with pytest.raises(TypeError):
        registry.register(object())  # type: ignore[arg-type]


def test_entry_point_backend_is_discovered(tmp_path):
    # A real installed distribution (a .dist-info folder on sys.path) that
    # advertises a backend in the dicomio.backends group.
    pkg = tmp_path / "dicomio_demo_backend.py"
    pkg.write_text(textwrap.dedent('''
        from dicomio.backends._base import Backend
        from dicomio.backends.native import rle_decode_frame

        class Demo(Backend):
            name = "demo-ep"
            install = "pip install dicomio-demo-backend"
            modules = ("numpy",)
            syntaxes = frozenset({"1.2.840.10008.1.2.5"})

            def decode(self, data, ctx):
                out = rle_decode_frame(data, ctx.spec)
                out.color = "RGB"
                return out

        backend = Demo()
    '''))
    dist = tmp_path / "dicomio_demo_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dicomio-demo-backend\n"
                                   "Version: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[dicomio.backends]\ndemo-ep = dicomio_demo_backend:backend\n"
        "broken = dicomio_demo_backend:does_not_exist\n")
    code = textwrap.dedent(f'''
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np
        from dicomio import DicomImage, registry, samples
        assert "demo-ep" in registry.names(), registry.names()
        img = DicomImage(samples.path("RLELossless"), backend="demo-ep")
        np.testing.assert_array_equal(img.read(), samples.expected("RLELossless"))
        assert img.decoder == "demo-ep"
        # A broken plugin is listed as unavailable, not fatal and not silent.
        assert not registry.get("broken").available()
        print("ok")
    ''')
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_support_table_covers_every_syntax():
    rows = registry.support_table()
    assert {r["uid"] for r in rows} == set(dicomio.TRANSFER_SYNTAXES)
    jpeg = next(r for r in rows if r["keyword"] == "JPEGBaseline8Bit")
    assert jpeg["backends"]["imagecodecs"] is True


def test_availability_is_cached_and_thread_safe():
    import threading

    be = registry.get("imagecodecs")
    results = []
    threads = [threading.Thread(target=lambda: results.append(be.available()))
               for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 16
