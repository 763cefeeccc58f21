"""Periphery (shared/theory.md §2.5): quantisation, bounds, noise, management; kernel == twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain import _core
from pulsetrain.periphery import (
    BoundManagement,
    IOParameters,
    NoiseManagement,
    perfect_io,
    preset_io,
    transfer_io,
)
from pulsetrain.rng import as_seed_sequence, tile_key
from pulsetrain.twin import TwinTile

DEV = pt.Device(response=pt.SoftBounds(), dw_min=1e-3)


def _tile(w: np.ndarray, *, rng: int = 0) -> pt.AnalogTile:
    r, o, i = w.shape
    t = pt.AnalogTile(o, i, DEV, replicas=r, rng=rng)
    t.set_weights(w)
    return t


def test_defaults_are_aihwkits() -> None:
    io = IOParameters()
    assert io.step_in == pytest.approx(1 / 63, rel=1e-15)
    assert io.step_out == pytest.approx(24 / 510, rel=1e-15)
    assert io.out_noise == 0.06
    assert io.noise_management is NoiseManagement.ABS_MAX
    assert io.bound_management is BoundManagement.ITERATIVE
    assert preset_io().out_bound == 20.0
    assert IOParameters(inp_res=126).step_in == pytest.approx(1 / 63)  # > 1: number of steps
    assert IOParameters(out_res=0).step_out == 0.0  # ≤ 0: off


def test_perfect_io_is_the_exact_product() -> None:
    gen = np.random.default_rng(0)
    w = gen.uniform(-0.5, 0.5, size=(2, 5, 7))
    t = _tile(w)
    x = gen.normal(size=(2, 3, 7))
    d = gen.normal(size=(2, 3, 5))
    np.testing.assert_allclose(
        t.forward(x, io=perfect_io()), np.einsum("roi,rbi->rbo", w, x), rtol=1e-13, atol=1e-13
    )
    np.testing.assert_allclose(
        t.backward(d, io=perfect_io()), np.einsum("roi,rbo->rbi", w, d), rtol=1e-13, atol=1e-13
    )


def test_quantisation_and_bounds_without_noise() -> None:
    w = np.full((1, 3, 4), 0.25)
    t = _tile(w)
    io = IOParameters(
        out_noise=0.0, noise_management=NoiseManagement.NONE, bound_management=BoundManagement.NONE
    )
    x = np.array([[[0.1, -0.3, 0.77, 2.0]]])
    y = t.forward(x, io=io)
    # DAC: round-half-even to 1/63, clip at ±1; MVM; ADC: round to 24/510, clip at ±12.
    u = np.clip(np.rint(x / io.step_in) * io.step_in, -1, 1)
    want = np.rint((u @ w[0].T) / io.step_out) * io.step_out
    np.testing.assert_allclose(y, np.clip(want, -12, 12), rtol=0, atol=1e-15)
    # Saturation: large weights clip at ±out_bound without bound management.
    big = _tile(np.full((1, 2, 64), 1.0))
    yb = big.forward(np.ones((1, 1, 64)), io=io)
    np.testing.assert_array_equal(yb, 12.0)


def test_abs_max_noise_management_scales_back() -> None:
    w = np.random.default_rng(1).uniform(-0.3, 0.3, size=(1, 4, 6))
    t = _tile(w)
    io = IOParameters(out_noise=0.0, inp_res=0.0, out_res=0.0)
    x = 50.0 * np.random.default_rng(2).normal(size=(1, 2, 6))
    # With no quantisation or noise, NM divides by max|x| and multiplies back: exact W x.
    np.testing.assert_allclose(t.forward(x, io=io), np.einsum("roi,rbi->rbo", w, x), rtol=1e-12)
    assert (t.forward(np.zeros((1, 1, 6)), io=io) == 0.0).all()


def test_iterative_bound_management_recovers_large_outputs() -> None:
    # All-ones input on 40 columns of weight 0.5: W x = 20 > 12. Bound management halves the
    # input until the output fits (factor 2: 10 < 12) and scales back by 2. With the DAC and
    # ADC steps: u = rint(0.5/step_in)·step_in, y = 2·rint(20u/step_out)·step_out ≈ 20.33.
    t = _tile(np.full((1, 1, 40), 0.5))
    quiet = IOParameters(out_noise=0.0)
    u = np.rint(0.5 / quiet.step_in) * quiet.step_in
    want = 2.0 * np.rint(40 * 0.5 * u / quiet.step_out) * quiet.step_out
    assert t.forward(np.ones((1, 1, 40)), io=quiet).item() == pytest.approx(want, rel=1e-14)
    assert abs(want - 20.0) < 0.4
    off = IOParameters(out_noise=0.0, bound_management=BoundManagement.NONE)
    assert t.forward(np.ones((1, 1, 40)), io=off).item() == 12.0
    # The backward pass never uses bound management (aihwkit): clipped.
    tb = _tile(np.full((1, 40, 1), 0.5))
    assert tb.backward(np.ones((1, 1, 40)), io=quiet).item() == 12.0
    # At most 2^4 = 16 halvings (max_bm_res/step_in = 15.75): 1000 columns of 0.5 → 500 stays
    # clipped at 12·16 = 192.
    th = _tile(np.full((1, 1, 1000), 0.5))
    assert th.forward(np.ones((1, 1, 1000)), io=quiet).item() == pytest.approx(192.0)


def test_output_noise_statistics() -> None:
    # Zero weights, no ADC: the output is out_noise·ξ times the NM scale max|x| = 2.
    r = 4000
    t = pt.AnalogTile(1, 3, DEV, replicas=r, rng=3)
    io = IOParameters(out_res=0.0)
    y = t.forward(np.tile(np.array([2.0, -1.0, 0.5]), (r, 1, 1)), io=io).ravel()
    sd = 0.06 * 2.0
    assert abs(y.mean()) < 5 * sd / math.sqrt(r)
    assert abs(y.std() - sd) < 5 * sd / math.sqrt(2 * r)


def test_transfer_read_of_a_column() -> None:
    w = np.random.default_rng(4).uniform(-0.4, 0.4, size=(2, 6, 5))
    t = _tile(w)
    exact = t.read([3, 1], io=perfect_io())
    np.testing.assert_allclose(exact, w[:, :, [3, 1]], rtol=1e-15)
    noisy = t.read([3, 1], io=transfer_io())
    # A read returns A e_k + 0.06ξ quantised to 24/510 (theory.md §2.5): within noise + step.
    assert np.abs(noisy - w[:, :, [3, 1]]).max() < 5 * 0.06 + 24 / 510


IOS = [
    IOParameters(),
    IOParameters(inp_sto_round=True, out_sto_round=True, inp_noise=0.02),
    IOParameters(noise_management=NoiseManagement.NONE, nm_thres=0.0, out_bound=2.0),
    IOParameters(nm_thres=0.5, out_bound=1.0, bm_test_negative_bound=False),
    perfect_io(),
]


@pytest.mark.parametrize("io", IOS, ids=range(len(IOS)))
def test_passes_match_the_twin(io: IOParameters) -> None:
    dev = pt.Device(response=pt.SoftBounds(), dw_min=0.01, dw_min_dtod=0.2, reference_std=0.1)
    gen = np.random.default_rng(5)
    tile = pt.AnalogTile(6, 9, dev, replicas=2, rng=8, replica_offset=1)
    twin = TwinTile(
        dev.to_spec(),
        pt.StochasticPulseUpdate().to_spec(),
        6,
        9,
        2,
        list(tile_key(as_seed_sequence(8), 0)),
        1,
    )
    w = gen.uniform(-0.9, 0.9, size=(2, 6, 9))
    tile.set_weights(w)
    twin.set_weights(w)
    x = 3.0 * gen.normal(size=(2, 4, 9))
    d = gen.normal(size=(2, 4, 6))
    spec = io.to_spec()
    np.testing.assert_array_equal(tile.forward(x, io=io), twin.forward(x, spec))
    np.testing.assert_array_equal(tile.backward(d, io=io), twin.backward(d, spec))
    np.testing.assert_array_equal(tile.read([0, 8, 3], io=io), twin.read_io([0, 8, 3], spec))
    assert tile.tick == twin.tick == 3


def test_parallel_passes_are_deterministic() -> None:
    gen = np.random.default_rng(6)
    x = gen.normal(size=(3, 20, 64))
    outs = []
    for n in (1, 2, 3):
        t = pt.AnalogTile(64, 64, DEV, replicas=3, rng=1, n_threads=n)
        t.set_weights(gen.uniform(-0.5, 0.5, size=(3, 64, 64)) * 0 + 0.1)
        outs.append(t.forward(x))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_bad_io_and_inputs() -> None:
    t = pt.AnalogTile(3, 4, DEV, rng=0)
    with pytest.raises(pt.ParameterError, match="'out_bound'"):
        IOParameters(out_bound=0.0)
    with pytest.raises(pt.ParameterError, match="'io'"):
        t.forward(np.zeros((1, 4)), io="perfect")  # type: ignore[arg-type]
    with pytest.raises(pt.ShapeError, match="'x'"):
        t.forward(np.zeros((1, 3)))
    with pytest.raises(pt.NonFiniteError, match="'d'"):
        t.backward(np.full((1, 3), np.nan))
    assert t.tick == 0


@pytest.mark.parametrize(("out_size", "in_size", "batch"), [(48, 40, 40), (47, 41, 39)])
def test_batched_parallel_passes_match_the_twin(out_size: int, in_size: int, batch: int) -> None:
    # 2·40·48·40 multiply-adds: above the serial threshold, so the batched product runs on the
    # pool (blocks of 4 rows × up to 16 samples forward; backward by 16-column blocks, or by
    # the forward blocks on Wᵀ from 16 samples on); still bit-equal to the twin's
    # sample-by-sample passes, noise and bound management included. Batch 39 and odd sizes
    # leave a remainder in every block dimension.
    assert 2 * batch * out_size * in_size >= _core.parallel_min_work
    dev = pt.Device(response=pt.SoftBounds(), dw_min=0.01, dw_min_dtod=0.2, reference_std=0.1)
    gen = np.random.default_rng(9)
    tile = pt.AnalogTile(out_size, in_size, dev, replicas=2, rng=4, n_threads=2)
    twin = TwinTile(
        dev.to_spec(),
        pt.StochasticPulseUpdate().to_spec(),
        out_size,
        in_size,
        2,
        list(tile_key(as_seed_sequence(4), 0)),
    )
    w = gen.uniform(-0.9, 0.9, size=(2, out_size, in_size))
    tile.set_weights(w)
    twin.set_weights(w)
    io = IOParameters(out_bound=3.0, inp_sto_round=True)  # saturates often: BM repeats
    x = 2.0 * gen.normal(size=(2, batch, in_size))
    d = gen.normal(size=(2, batch, out_size))
    np.testing.assert_array_equal(tile.forward(x, io=io), twin.forward(x, io.to_spec()))
    np.testing.assert_array_equal(tile.backward(d, io=io), twin.backward(d, io.to_spec()))
    np.testing.assert_array_equal(
        tile.forward(x, io=perfect_io()), twin.forward(x, perfect_io().to_spec())
    )


# ------------------------------------------------------------------ exact products (Backend)
@pytest.mark.parametrize(
    ("r", "o", "i", "b"), [(1, 1, 1, 1), (3, 5, 20, 10), (2, 17, 9, 300), (1, 33, 70, 3)]
)
@pytest.mark.parametrize("transpose", [False, True])
def test_exact_products_are_the_index_order_sums_of_the_twin_and_the_perfect_pass(
    r: int,
    o: int,
    i: int,
    b: int,
    transpose: bool,  # noqa: FBT001
) -> None:
    gen = np.random.default_rng(r * 1000 + o + i + b)
    w = gen.normal(size=(r, o, i))
    w[gen.random(w.shape) < 0.1] = -0.0  # signed zeros: the sums start from +0.0
    x = gen.normal(size=(r, b, o if transpose else i))
    twin = pt.Backend.TWIN.exact_products(w, x, transpose=transpose)
    # By hand: term by term in ascending index order from 0.0.
    want = np.zeros(twin.shape)
    for k in range(x.shape[2]):
        col = w[:, k, :] if transpose else w[:, :, k]
        want = want + col[:, None, :] * x[:, :, k, None]
    np.testing.assert_array_equal(twin.view(np.uint64), want.view(np.uint64))
    for n_threads in (None, 1, 2, 3):
        got = pt.Backend.RUST.exact_products(w, x, transpose=transpose, n_threads=n_threads)
        np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
    # The same sums as a tile's perfect pass (out_scale 1) on the tile's own weights (w
    # programmed within the device's bounds).
    t = _tile(w)
    via = t.backward(x, io=perfect_io()) if transpose else t.forward(x, io=perfect_io())
    same = pt.Backend.RUST.exact_products(t.weights, x, transpose=transpose)
    np.testing.assert_array_equal(np.asarray(via).view(np.uint64), same.view(np.uint64))
    # Views that are not C-contiguous are read as their values.
    xs = np.repeat(x, 2, axis=2)[:, :, ::2]
    got = pt.Backend.RUST.exact_products(w, xs, transpose=transpose)
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


def test_exact_products_reject_shapes_that_do_not_fit() -> None:
    w, x = np.ones((2, 3, 4)), np.ones((2, 5, 3))
    for backend in pt.Backend:
        with pytest.raises(pt.ShapeError, match="'x' parameter of exact_products"):
            backend.exact_products(w, x)
        with pytest.raises(pt.ShapeError, match="'x' parameter of exact_products"):
            backend.exact_products(w, np.ones((1, 5, 4)))
    with pytest.raises(pt.ShapeError, match="'w' parameter of exact_products"):
        _core.exact_products(np.ones((2, 3)), x)
