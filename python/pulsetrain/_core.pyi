"""Type stub of the compiled module ``pulsetrain._core`` (checked by ``mypy.stubtest``)."""

from collections.abc import Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "FAMILY_NAMES",
    "TAGS",
    "UPDATE_KINDS",
    "Tile",
    "__version__",
    "alloc_budget",
    "build_profile",
    "chunk_work",
    "default_threads",
    "exact_products",
    "gathered_residuals",
    "normals",
    "parallel_min_work",
    "philox_raw",
    "replica_normals",
    "replica_uniforms",
    "rng_scheme",
    "uniforms",
]

__version__: str
rng_scheme: int
build_profile: str
default_threads: int
parallel_min_work: int
alloc_budget: int
"""Bytes of new buffers one call may allocate at most: half the physical memory (else 8 GiB)."""
chunk_work: int
"""Pulses a long kernel runs between two Ctrl-C checks (zero_shift, apply_pulses)."""
FAMILY_NAMES: tuple[str, ...]
"""The spec-dict ``family`` strings the core accepts (docs/KERNEL_SPEC.md §1)."""
UPDATE_KINDS: tuple[str, ...]
"""The update-mode spec ``kind`` strings the core accepts (docs/KERNEL_SPEC.md §8)."""
TAGS: dict[str, int]
"""Every stream tag by name, UPPER_SNAKE as in rng.rs (docs/KERNEL_SPEC.md §3)."""

@final
class Tile:
    def __new__(
        cls,
        spec: dict[str, Any],
        update: dict[str, Any],
        out_size: int,
        in_size: int,
        replicas: int,
        key: Sequence[int],
        replica_offset: int = 0,
    ) -> Tile: ...
    @property
    def replicas(self) -> int: ...
    @property
    def out_size(self) -> int: ...
    @property
    def in_size(self) -> int: ...
    @property
    def replica_offset(self) -> int: ...
    @property
    def tick(self) -> int: ...
    def weights(self) -> npt.NDArray[np.float64]: ...
    def physical_weights(self) -> npt.NDArray[np.float64]: ...
    def set_weights(self, weights: npt.NDArray[np.float64]) -> None: ...
    def set_physical_weights(self, weights: npt.NDArray[np.float64]) -> None: ...
    def update(
        self,
        x: npt.NDArray[np.float64],
        d: npt.NDArray[np.float64],
        lr: float,
        phase: int,
        n_threads: int | None = None,
    ) -> npt.NDArray[np.uint64]: ...
    def apply_delta(
        self, delta: npt.NDArray[np.float64], phase: int, n_threads: int | None = None
    ) -> npt.NDArray[np.uint64]: ...
    def apply_pulses(
        self, counts: npt.NDArray[np.int64], phase: int, n_threads: int | None = None
    ) -> npt.NDArray[np.uint64]: ...
    def read(
        self, cols: Sequence[int], noise_std: float = 0.0, n_threads: int | None = None
    ) -> npt.NDArray[np.float64]: ...
    def zero_shift(
        self, n_pulses: int, cyclic: bool, average_last: int = 1, n_threads: int | None = None
    ) -> npt.NDArray[np.float64]: ...
    def set_reference(self, reference: npt.NDArray[np.float64]) -> None: ...
    def forward(
        self, x: npt.NDArray[np.float64], io: dict[str, Any], n_threads: int | None = None
    ) -> npt.NDArray[np.float64]: ...
    def backward(
        self, d: npt.NDArray[np.float64], io: dict[str, Any], n_threads: int | None = None
    ) -> npt.NDArray[np.float64]: ...
    def read_io(
        self, cols: Sequence[int], io: dict[str, Any], n_threads: int | None = None
    ) -> npt.NDArray[np.float64]: ...
    def pulse_counts(self, phase: int) -> npt.NDArray[np.uint64]: ...
    def reset_pulse_counts(self, phase: int | None = None) -> None: ...
    def maps(self) -> dict[str, npt.NDArray[np.float64]]: ...
    @property
    def key(self) -> tuple[int, int]: ...
    def set_tick(self, tick: int) -> None: ...
    def set_pulse_counts(self, phase: int, counts: npt.NDArray[np.uint64]) -> None: ...
    def reference(self) -> npt.NDArray[np.float64]: ...

def philox_raw(key: Sequence[int], counter: Sequence[int], n: int) -> npt.NDArray[np.uint32]: ...
def uniforms(key: Sequence[int], counter: Sequence[int], n: int) -> npt.NDArray[np.float64]: ...
def normals(key: Sequence[int], counter: Sequence[int], n: int) -> npt.NDArray[np.float64]: ...
def replica_normals(
    key: Sequence[int],
    tick: int,
    replica_offset: int,
    replicas: int,
    n: int,
    tag: int = 7,
    n_threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def replica_uniforms(
    key: Sequence[int],
    tick: int,
    replica_offset: int,
    replicas: int,
    n: int,
    tag: int = 7,
    n_threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def exact_products(
    w: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    transpose: bool = False,
    n_threads: int | None = None,
) -> npt.NDArray[np.float64]: ...
def gathered_residuals(
    w: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64],
    n_threads: int | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
