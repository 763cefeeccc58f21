"""The periphery's register-blocked MVM kernels (issue 14 item 5, rust/core/src/periphery.rs).

The batched forward (W x) and backward (Wᵀ d) products run in SIMD-dispatched blocks of rows,
columns and samples; every output must still be the sum of its terms in index order from 0.0
with separate multiplies and adds, so the passes equal a sample-by-sample sum bit for bit, on
this CPU's dispatch target, for any thread count and across the chunks in which a pass takes
its samples. (The Rust unit tests compare every compiled target with the scalar copy.)
"""

from __future__ import annotations

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.rng import as_seed_sequence, tile_key
from pulsetrain.twin import TwinTile

DEV = pt.Device(response=pt.SoftBounds(), dw_min=1e-3)
NOISY = pt.Device(response=pt.SoftBounds(), dw_min=0.01, dw_min_dtod=0.2, reference_std=0.1)


def _in_order(w: np.ndarray, x: np.ndarray, *, transpose: bool) -> np.ndarray:
    """Σ_k w·x term by term in index order from 0.0 (separate multiply and add)."""
    r, o, i = w.shape
    b = x.shape[1]
    if transpose:
        acc = np.zeros((r, b, i))
        for k in range(o):
            acc = acc + w[:, None, k, :] * x[:, :, k, None]
        return acc
    acc = np.zeros((r, b, o))
    for k in range(i):
        acc = acc + w[:, None, :, k] * x[:, :, k, None]
    return acc


# Shapes reach every block remainder: rows and columns off multiples of 4, 16 and 64, batches
# below and above the backward kernel's switch to sample vectors (16) and above the pass chunk
# (256 samples).
SHAPES = [(5, 7, 1), (9, 70, 10), (17, 130, 15), (33, 65, 17), (16, 25, 300)]


@pytest.mark.parametrize(("out_size", "in_size", "batch"), SHAPES)
def test_exact_products_sum_in_index_order(out_size: int, in_size: int, batch: int) -> None:
    gen = np.random.default_rng(out_size * 1000 + batch)
    outs = []
    for n_threads in (1, 2):
        t = pt.AnalogTile(out_size, in_size, NOISY, replicas=2, rng=3, n_threads=n_threads)
        t.set_weights(gen.uniform(-0.9, 0.9, size=(2, out_size, in_size)))
        w = t.weights  # p − r, element by element, as the kernels form it
        x = gen.normal(size=(2, batch, in_size))
        d = gen.normal(size=(2, batch, out_size))
        fwd = t.forward(x, io=perfect_io())
        bwd = t.backward(d, io=perfect_io())
        np.testing.assert_array_equal(fwd, _in_order(w, x, transpose=False))
        np.testing.assert_array_equal(bwd, _in_order(w, d, transpose=True))
        outs.append((fwd, bwd))
        gen = np.random.default_rng(out_size * 1000 + batch)  # same inputs for 2 threads
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


@pytest.mark.parametrize("batch", [3, 20])
def test_no_fused_multiply_add(batch: int) -> None:
    # (0.5 + 2⁻²⁸)(1 − 2⁻²⁷) = 0.5 − 2⁻⁵⁵, a tie between 0.5 − 2⁻⁵⁴ and 0.5 that rounds to 0.5
    # (even), so −0.5·1 + (0.5 + 2⁻²⁸)(1 − 2⁻²⁷) is exactly 0.0 with a separate multiply and
    # add, and −2⁻⁵⁵ with an FMA. Every row (forward) and column (backward) is that sum.
    rows, cols = 21, 19
    e = 2.0**-28
    t = pt.AnalogTile(rows, 2, DEV, rng=0)
    w = np.tile([-0.5, 0.5 + e], (1, rows, 1))
    t.set_weights(w)
    assert np.array_equal(t.weights, w)
    x = np.tile([1.0, 1.0 - 2 * e], (1, batch, 1))
    y = t.forward(x, io=perfect_io())
    assert y.shape == (1, batch, rows)
    assert np.all(y == 0.0)
    assert not np.signbit(y).any()

    tb = pt.AnalogTile(2, cols, DEV, rng=0)
    wb = np.stack([np.full(cols, -0.5), np.full(cols, 0.5 + e)])[None]
    tb.set_weights(wb)
    assert np.array_equal(tb.weights, wb)
    g = tb.backward(x, io=perfect_io())
    assert g.shape == (1, batch, cols)
    assert np.all(g == 0.0)
    assert not np.signbit(g).any()


def test_chunked_noisy_passes_match_the_twin() -> None:
    # 300 samples: two chunks of the pass (256 + 44), each sample on its own stream; the
    # periphery's noise, rounding and bound management as the twin's sample-by-sample passes.
    gen = np.random.default_rng(11)
    tile = pt.AnalogTile(6, 9, NOISY, replicas=1, rng=8, n_threads=2)
    twin = TwinTile(
        NOISY.to_spec(),
        pt.StochasticPulseUpdate().to_spec(),
        6,
        9,
        1,
        list(tile_key(as_seed_sequence(8), 0)),
    )
    w = gen.uniform(-0.9, 0.9, size=(1, 6, 9))
    tile.set_weights(w)
    twin.set_weights(w)
    io = IOParameters(out_bound=3.0, inp_sto_round=True, out_sto_round=True)
    x = 2.0 * gen.normal(size=(1, 300, 9))
    d = gen.normal(size=(1, 300, 6))
    np.testing.assert_array_equal(tile.forward(x, io=io), twin.forward(x, io.to_spec()))
    np.testing.assert_array_equal(tile.backward(d, io=io), twin.backward(d, io.to_spec()))


@pytest.mark.parametrize(
    ("replicas", "n", "out_size", "in_size", "batch"),
    [
        (256, 100, 5, 20, 10),  # the papers' least squares (the small path)
        (3, 12, 9, 70, 30),  # inputs past the small path's 64
        (1, 5, 1, 3, 8),  # rows drawn more than once
    ],
)
def test_gathered_residuals_are_take_and_exact_products(
    replicas: int, n: int, out_size: int, in_size: int, batch: int
) -> None:
    gen = np.random.default_rng(replicas + n)
    w = gen.uniform(-0.9, 0.9, size=(replicas, out_size, in_size))
    a = gen.normal(size=(replicas, n, in_size))
    b = gen.normal(size=(replicas, n, out_size))
    rows = gen.integers(0, n, size=(replicas, batch))
    # The reference: NumPy's fancy indexing and the index-order sum.
    x_ref = a[np.arange(replicas)[:, None], rows]
    d_ref = (_in_order(w, x_ref, transpose=False) - b[np.arange(replicas)[:, None], rows]) / batch
    for backend in (pt.Backend.RUST, pt.Backend.TWIN):
        for n_threads in (1, 2):
            x, d = backend.gathered_residuals(w, a, b, rows, n_threads=n_threads)
            assert x.shape == (replicas, batch, in_size)
            assert d.shape == (replicas, batch, out_size)
            np.testing.assert_array_equal(x, x_ref)
            np.testing.assert_array_equal(d, d_ref)


@pytest.mark.parametrize("backend", [pt.Backend.RUST, pt.Backend.TWIN])
def test_gathered_residuals_refuse_bad_rows_and_shapes(backend: pt.Backend) -> None:
    w, a, b = np.ones((2, 3, 4)), np.ones((2, 6, 4)), np.ones((2, 6, 3))
    for bad in (-1, 6):
        rows = np.array([[0, 1], [5, bad]])
        with pytest.raises(pt.ParameterError, match=r"'rows'.*\[0, 6\)"):
            backend.gathered_residuals(w, a, b, rows)
    with pytest.raises(pt.ShapeError, match="'rows'"):
        backend.gathered_residuals(w, a, b, np.zeros((2, 2)))  # floats
    with pytest.raises(pt.ShapeError, match="'rows'"):
        backend.gathered_residuals(w, a, b, np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(pt.ShapeError, match="'b'"):
        backend.gathered_residuals(w, a, np.ones((2, 5, 3)), np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(pt.ShapeError, match="'a'"):
        backend.gathered_residuals(w, np.ones((2, 6, 5)), b, np.zeros((2, 2), dtype=np.int64))
