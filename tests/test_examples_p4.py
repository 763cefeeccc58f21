"""examples/p4_few_states.py at a tiny size: its result structure and one robust ordering."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from pulsetrain.algorithms import MultiTile

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    # The example imports its sibling ``_common``, so its folder goes on the path while loading.
    sys.path.insert(0, str(EXAMPLES))
    try:
        name = "_example_p4_few_states"
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / "p4_few_states.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


REPLICAS, STEPS, LRS = 4, 300, (0.03, 0.1)


@pytest.fixture(scope="module")
def results(example: ModuleType) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = example.run_grid(
        states=(4,), tiles=(1, 2, 3), lrs=LRS, replicas=REPLICAS, steps=STEPS, seed=0
    )
    return out


def test_structure(example: ModuleType, results: dict[int, dict[str, Any]]) -> None:
    assert list(results) == [4]
    cells = results[4]
    assert list(cells) == [
        "TT-v1",
        "TT-v2",
        "MP",
        "MT 1",
        "MT 2",
        "MT damped 2",
        "MT 3",
        "MT damped 3",
    ]
    for name, c in cells.items():
        assert c.error.shape == (REPLICAS,), name
        assert c.loss.shape == (REPLICAS,), name
        assert np.all(np.isfinite(c.error)), name
        assert np.all(c.error >= 0.0), name
        assert c.error_se == pytest.approx(c.error.std(ddof=1) / math.sqrt(REPLICAS))
        # The kept lr is the grid point with the lowest mean final loss, and its loss is that.
        assert set(c.mean_loss_by_lr) == set(LRS), name
        assert c.lr == min(LRS, key=lambda lr: c.mean_loss_by_lr[lr]), name
        assert c.loss_mean == pytest.approx(c.mean_loss_by_lr[c.lr])
        assert c.record_steps[0] == 0, name
        assert c.record_steps[-1] == STEPS, name
        assert c.error_curve.shape == c.record_steps.shape, name
        assert c.error_curve[-1] == pytest.approx(c.error_mean)
        assert set(c.pulses) >= {"update", "transfer"}, name
        assert c.pulses.get("calibration", 0.0) == 0.0, name
    # Analog SGD (1 tile) and MP write no transfer / no gradient pulses respectively; every
    # cascade with ≥ 2 tiles transfers.
    assert cells["MT 1"].pulses["transfer"] == 0.0
    assert cells["MP"].pulses["update"] == 0.0
    for name in ("MT 2", "MT 3", "MT damped 2", "TT-v1", "TT-v2"):
        assert cells[name].pulses["transfer"] > 0.0, name
    # The damped series is the paper series with every transfer rate × DAMPING.
    paper = example.multi_tile(4, 3, 0.1)
    damped = example.multi_tile(4, 3, 0.1, example.DAMPING)
    assert isinstance(paper, MultiTile)
    assert isinstance(damped, MultiTile)
    assert paper.periods == damped.periods == (6, 3)
    np.testing.assert_allclose(
        np.array(damped.transfer_rates), example.DAMPING * np.array(paper.transfer_rates)
    )
    np.testing.assert_allclose(paper.transfer_rates, (0.3 * 1.2, 0.3 * 1.2**2))


def test_mixed_precision_beats_analog_sgd_at_four_states(
    results: dict[int, dict[str, Any]],
) -> None:
    # With Δw_min 0.5, Analog SGD's stochastic pulses random-walk by half the range while MP
    # fires only whole accumulated steps. Significance: the gap must exceed 4 standard errors
    # of the difference, 4·√(SE_MP² + SE_ASGD²), each SE = std/√R over R = 4 independent seeds.
    mp, asgd = results[4]["MP"], results[4]["MT 1"]
    gap = asgd.error_mean - mp.error_mean
    assert gap > 4.0 * math.hypot(mp.error_se, asgd.error_se), (asgd.error_mean, mp.error_mean)


def test_figure(example: ModuleType, results: dict[int, dict[str, Any]], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "sub" / "p4.png"
    example.plot(results, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- C24 example
def _load(file: str, name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / file)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXAMPLES))
    return module


def test_c24_example_targets_vectors_and_mean_field() -> None:
    c24 = _load("c24_multi_tile.py", "_example_c24_multi_tile")
    b = c24.targets(50)
    k = (b + 1.0) * (2**16 - 1) / 2.0  # on the 16-bit grid: k integral in [0, 2^16 − 1]
    np.testing.assert_allclose(k, np.round(k), atol=1e-6)
    assert ((k >= 0) & (k <= 2**16 - 1)).all()
    vec = c24.vectors(3)
    assert vec["gamma_vec"] == pytest.approx([0.01, 0.1, 1.0])
    assert vec["transfer_every_vec"] == [2.0, 4.0, 8.0]
    # The mean-field matrix for 2 tiles is [[0, a], [−lr, −lr·γ]] with a = 0.01/2: its
    # eigenvalues are the roots of s² + lr·γ·s + lr·a, real part −lr·γ/2 when complex.
    for lr in (0.001, 0.01):
        assert c24.mean_field_growth(1, lr) == pytest.approx(-lr)
        assert c24.mean_field_growth(2, lr) == pytest.approx(-lr * 0.1 / 2)
        # From 3 tiles on the cascade is Hurwitz-unstable (lr·γ³ < lr_transfer/T_0).
        assert all(c24.mean_field_growth(n, lr) > 0 for n in range(3, 7))
    finals, curves = c24.sweep(0.01, steps=200, replicas=2, n_targets=1)
    assert sorted(finals) == list(c24.TILES)
    assert all(f.shape == (2,) and np.isfinite(f).all() for f in finals.values())
    assert all(c.shape == (21,) for c in curves.values())
