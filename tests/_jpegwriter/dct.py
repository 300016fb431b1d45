"""The 8x8 DCT of T.81 A.3.3 in numpy, quantisation and the zig-zag order.

``coefficients`` turns one component into quantised coefficients (blocks in
raster order, each in zig-zag order); ``reconstruct`` is the ideal decoder
(float IDCT of the dequantised coefficients), used as the reference the real
decoders are compared with.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ZIGZAG", "QTABLE", "quant_table", "coefficients", "reconstruct",
           "error_bound"]


def _zigzag() -> np.ndarray:
    """Natural (row-major) index of each zig-zag position (T.81 Figure A.6)."""
    cells = sorted(((y, x) for y in range(8) for x in range(8)),
                   key=lambda p: (p[0] + p[1],
                                  p[0] if (p[0] + p[1]) % 2 else -p[0]))
    return np.array([y * 8 + x for y, x in cells])


ZIGZAG = _zigzag()

#: T.81 Table K.1 (luminance), natural order.
QTABLE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]).reshape(8, 8)


def quant_table(scale_percent: int) -> np.ndarray:
    """Table K.1 scaled by ``scale_percent`` / 100 (each entry 1..255)."""
    return np.clip((QTABLE * scale_percent + 50) // 100, 1, 255).astype(np.int64)


# C[u, x] = c(u)/2 cos((2x + 1) u pi / 16), c(0) = 1/sqrt(2): F = C f C^T.
_U, _X = np.mgrid[0:8, 0:8]
_C = np.where(_U == 0, 1 / np.sqrt(2), 1.0) / 2 * np.cos((2 * _X + 1) * _U * np.pi / 16)


def _blocks(plane: np.ndarray) -> np.ndarray:
    """(by, bx, 8, 8) blocks; the edge is padded by replicating the last
    row and column (an encoder's choice: decoders crop it away)."""
    rows, cols = plane.shape
    pr, pc = -rows % 8, -cols % 8
    padded = np.pad(plane, ((0, pr), (0, pc)), mode="edge")
    by, bx = padded.shape[0] // 8, padded.shape[1] // 8
    return padded.reshape(by, 8, bx, 8).swapaxes(1, 2)


def coefficients(plane: np.ndarray, q: np.ndarray, shift: int) -> np.ndarray:
    """Quantised DCT coefficients of ``plane - shift``.

    Returns an int64 array ``(by, bx, 64)``, coefficients in zig-zag order.
    ``shift`` is the level shift ``2**(P-1)`` (0 in differential frames).
    """
    f = _blocks(np.asarray(plane, np.float64) - shift)
    big_f = _C @ f @ _C.T
    sq = np.rint(big_f / q).astype(np.int64)
    by, bx = sq.shape[:2]
    return sq.reshape(by, bx, 64)[..., ZIGZAG]


def reconstruct(coef: np.ndarray, q: np.ndarray, shift: int, shape: tuple[int, int],
                maxval: int | None) -> np.ndarray:
    """The ideal decoder: dequantise, float IDCT, level shift, round, crop
    to ``shape`` and clamp to ``0..maxval`` (no clamp when None)."""
    by, bx = coef.shape[:2]
    nat = np.empty_like(coef)
    nat[..., ZIGZAG] = coef
    big_f = nat.reshape(by, bx, 8, 8) * q
    f = _C.T @ big_f @ _C + shift
    plane = f.swapaxes(1, 2).reshape(by * 8, bx * 8)[: shape[0], : shape[1]]
    out = np.rint(plane).astype(np.int64)
    return out if maxval is None else np.clip(out, 0, maxval)


def error_bound(q: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Largest possible ``|ideal reconstruction - input|`` per pixel from
    rounding the coefficients: ``sum_uv q_uv / 2 * |basis_uv(y, x)|`` (+ 0.5
    for the final rounding), tiled over ``shape``."""
    basis = np.abs(np.einsum("uy,vx->yxuv", _C, _C))  # (y, x, u, v)
    per = (basis * (q / 2)).sum(axis=(2, 3)) + 0.5
    rows, cols = shape
    return np.tile(per, (-(-rows // 8), -(-cols // 8)))[:rows, :cols]
