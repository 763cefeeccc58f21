"""Multi-tile residual learning (P4; shared/theory.md §3.13, §3.15, §4.8).

N + 1 analog tiles W⁽⁰⁾..W⁽ᴺ⁾ (``n_tiles = N + 1``): the model computes with the composite
W̄ = Σₙ γⁿ W⁽ⁿ⁾, tile N receives the gradient and each slower tile n receives transfers of the
columns of tile n + 1 at its own period. Two tiles are exactly residual learning (derived; the
tests check it bit for bit). :func:`from_aihwkit` maps P4's aihwkit vectors (index i = N − n) onto
the config, and :func:`loss_plateau` is App. H's LossPlateau test of the warm start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np

from pulsetrain._validation import (
    NON_NEGATIVE,
    Bool,
    Constraint,
    InstanceOf,
    Integral,
    Interval,
    Options,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms._transfer import (
    TRANSFER_UPDATE,
    columns_per_transfer_field,
    gamma_mix_field,
    lr_field,
    residual_sp_error,
)
from pulsetrain.algorithms.base import LR, Algorithm, AlgorithmState, FloatArray, make_tile
from pulsetrain.config import register
from pulsetrain.devices import Device, SoftBounds
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.problems.base import Instance
from pulsetrain.tile import AnalogTile, Backend
from pulsetrain.updates import (
    UPDATE_MODES,
    ExpectedUpdate,
    Phase,
    StochasticPulseUpdate,
    UpdateMode,
)

__all__ = ["MultiTile", "aihwkit_vectors", "from_aihwkit", "loss_plateau"]

_MAX_PERIOD = 1 << 40


class _ScalarOrTuple(Constraint):
    """A value the inner constraint accepts, or a tuple (list) of such values.

    The length of a tuple depends on another field (``n_tiles``); ``__post_init__`` checks it.
    """

    __slots__ = ("inner",)

    def __init__(self, inner: Interval) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"_ScalarOrTuple({self.inner!r})"

    def accepts(self, value: object) -> bool:
        if isinstance(value, tuple | list):
            return all(self.inner.accepts(v) for v in value)
        return self.inner.accepts(value)

    def normalise(self, value: object) -> object:
        if isinstance(value, tuple | list):
            return tuple(self.inner.normalise(v) for v in value)
        return self.inner.normalise(value)

    def describe(self) -> str:
        return f"{self.inner.describe()}, or a tuple of n_tiles − 1 of them"

    def invalid(self) -> object:
        return self.inner.invalid()


_LR_VEC = _ScalarOrTuple(LR)
_PERIOD_VEC = _ScalarOrTuple(Integral(1, 1 << 30))
_SCHEDULES = ("fixed", "theory")


def loss_plateau(
    history: Sequence[float],
    k: int,
    *,
    aggressive_until: int = 3,
    tol_aggressive: float = 1e-4,
    tol_mild: float = 0.01,
    window: int = 5,
    min_violations: int = 2,
) -> bool:
    """Tell whether a loss history has stopped falling: P4's LossPlateau (App. H; §3.13).

    For ``k ≤ aggressive_until`` (aggressive): ``L[t] > L[t−1] − tol_aggressive``. Otherwise
    (mild): among the last ``window`` differences (``window + 1`` entries needed), at least
    ``min_violations`` are violations ``L[t−1] − L[t] < tol_mild``. With both tolerances 0 these
    are theory.md's rules (an increase; at least 2 increases among the last 5 differences); the
    authors' code uses 1e−4 and 0.01.

    Parameters
    ----------
    history : sequence of float
        Loss values L[0..t], oldest first.
    k : int
        Index of the tile currently being warmed.
    aggressive_until, tol_aggressive, tol_mild, window, min_violations
        The rule's parameters (see above).

    Returns
    -------
    bool
        True on a plateau.

    Examples
    --------
    >>> loss_plateau([1.0, 0.9], 0), loss_plateau([1.0, 0.99995], 0)
    (False, True)
    >>> loss_plateau([1.0, 0.5, 0.2, 0.1, 0.05, 0.01], 4)
    False
    """
    if k <= aggressive_until:
        return len(history) >= 2 and history[-1] > history[-2] - tol_aggressive
    if len(history) < window + 1:
        return False
    last = history[-(window + 1) :]
    violations = sum(last[i - 1] - last[i] < tol_mild for i in range(1, window + 1))
    return violations >= min_violations


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class MultiTile(Algorithm):
    """Multi-tile residual learning (P4 Eq. 6–7; theory.md §3.13).

    Tiles n = 0..N (``n_tiles = N + 1``; tile 0 is the slowest and the inference weight). The
    forward, backward and gradient point use W̄ = Σₙ gamma_mixⁿ W⁽ⁿ⁾. Per step k: W⁽ᴺ⁾ ←
    AU(W⁽ᴺ⁾, −lr·g); then for n = N−1 down to 0, if (k + 1) is a multiple of tile n's period:
    read the next ``columns_per_transfer`` columns v of W⁽ⁿ⁺¹⁾ (cyclic pointer per tile; with
    ``read_noise_std`` or through ``transfer_io``) and write W⁽ⁿ⁾ ← AU(W⁽ⁿ⁾, lr_transfer[n]·v)
    as an outer product with x = e_j (TRANSFER phase). Open loop: the source is not reset.
    ``n_tiles = 2`` is :class:`~pulsetrain.algorithms.ResidualLearning`; ``n_tiles = 1`` is
    Analog SGD on W⁽⁰⁾.

    With ``warm_start`` (App. H), every replica starts warming tile k = 0: at each event of the
    gradient tile's period (``periods[N−1]``) the columns of W⁽ᴺ⁾ are written into tile k instead
    of the cascade; when :func:`loss_plateau` holds on the replica's loss history (one entry per
    ``plateau_every`` losses, their mean, given through ``observe_loss``; :func:`pulsetrain.run`
    passes the objective at W̄ after every step), k ← k + 1; once k = N the normal cascade runs.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> dev = pt.presets.p4_few_state(4)
    >>> mt = MultiTile(device=dev, n_tiles=3, gamma_mix=0.1, transfer_every=(4, 2))
    >>> mt.periods
    (4, 2)
    """

    kind: ClassVar[str] = "multi_tile"
    device: Device = field(metadata=constrained(InstanceOf((Device,))))
    """Device of tile 0 (and of every tile unless ``device_residual`` is given)."""
    device_residual: Device | None = field(
        default=None, metadata=constrained(InstanceOf((Device, type(None))))
    )
    """Device of tiles 1..N; None uses ``device``."""
    n_tiles: int = field(default=3, metadata=constrained(Integral(1, 64)))
    """Number of tiles N + 1 (≥ 1)."""
    lr: float = lr_field(0.05)
    """Learning rate of the gradient on tile N (≥ 0)."""
    lr_transfer: float | tuple[float, ...] = field(default=0.01, metadata=constrained(_LR_VEC))
    """Rate of the transfer into tile n (≥ 0): one for all, or a tuple indexed by n = 0..N−1."""
    gamma_mix: float = gamma_mix_field()
    """Geometric tile scale γ of W̄ = Σ γⁿ W⁽ⁿ⁾ (≥ 0)."""
    transfer_every: int | tuple[int, ...] = field(default=1, metadata=constrained(_PERIOD_VEC))
    """Period (steps) of the transfer into tile n: one for all, or a tuple indexed by n."""
    schedule: str = field(default="fixed", metadata=constrained(Options(_SCHEDULES)))
    """"fixed" uses ``transfer_every``; "theory" uses P4's nested periods (see :attr:`periods`)."""
    columns_per_transfer: int = columns_per_transfer_field()
    """Columns read and written per event, cyclically; 0 transfers every column."""
    read_noise_std: float = field(default=0.0, metadata=constrained(NON_NEGATIVE))
    """Gaussian noise of each read, in weight units (≥ 0)."""
    transfer_io: IOParameters | None = field(
        default=None, metadata=constrained(InstanceOf((IOParameters, type(None))))
    )
    """If given, reads go through this periphery instead of exact values plus read noise."""
    update: UpdateMode = field(
        default_factory=StochasticPulseUpdate,
        metadata=constrained(InstanceOf(tuple(UPDATE_MODES.values()))),
    )
    """Update mode of the gradient tile (and of the transfers unless ``transfer_update``)."""
    transfer_update: UpdateMode | None = field(default=None, metadata=TRANSFER_UPDATE)
    """Update mode of tiles 0..N−1, which only receive transfers; None: ``update``."""
    warm_start: bool = field(default=False, metadata=constrained(Bool()))
    """P4 App. H's warm start with LossPlateau switching (needs ``observe_loss``)."""
    plateau_every: int = field(default=100, metadata=constrained(Integral(1, 1 << 30)))
    """Losses averaged into one entry of the plateau history (the authors: one epoch)."""
    plateau_aggressive_until: int = field(default=3, metadata=constrained(Integral(0, 64)))
    """The aggressive rule applies while k ≤ this (P4: 3)."""
    plateau_tol_aggressive: float = field(default=1e-4, metadata=constrained(NON_NEGATIVE))
    """Aggressive rule: plateau if L[t] > L[t−1] − this (authors' code: 1e−4)."""
    plateau_tol_mild: float = field(default=0.01, metadata=constrained(NON_NEGATIVE))
    """Mild rule: a decrease below this is a violation (authors' code: 0.01)."""
    plateau_window: int = field(default=5, metadata=constrained(Integral(1, 1 << 20)))
    """Mild rule: differences examined (P4: 5)."""
    plateau_violations: int = field(default=2, metadata=constrained(Integral(1, 1 << 20)))
    """Mild rule: violations among them that make a plateau (P4: 2)."""

    def __post_init__(self) -> None:
        """Validate every field and the tuple lengths."""
        check_fields(self)
        n = self.n_tiles - 1
        for name in ("lr_transfer", "transfer_every"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != n:
                raise parameter_error(
                    name,
                    "MultiTile",
                    f"a scalar or a tuple of n_tiles − 1 = {n} values (one per tile n = 0..N−1)",
                    value,
                )
        if self.plateau_violations > self.plateau_window:
            raise parameter_error(
                "plateau_violations",
                "MultiTile",
                f"an int in the range [1, plateau_window = {self.plateau_window}]",
                self.plateau_violations,
            )
        if self.schedule == "theory":
            if self.gamma_mix <= 0.0 or self.gamma_mix >= 1.0:
                raise parameter_error(
                    "gamma_mix",
                    "MultiTile",
                    "a float in the range (0, 1) with schedule='theory'",
                    self.gamma_mix,
                )
            if max(self.periods, default=1) > _MAX_PERIOD:
                raise parameter_error(
                    "n_tiles",
                    "MultiTile",
                    f"small enough for theory periods ≤ 2^40 (gamma_mix {self.gamma_mix})",
                    self.n_tiles,
                )

    @property
    def periods(self) -> tuple[int, ...]:
        """The transfer period of each tile n = 0..N−1, in steps.

        With ``schedule="fixed"`` this is ``transfer_every``. With ``"theory"`` (§3.13, §3.15):
        tile n's clock is t_n = floor((t + 1)/Π_{n'>n} T_{n'}) with T_N = ⌈γ^{−N}⌉ and
        T_{n'} = ⌈1/γ⌉ for 0 < n' < N, so tile n transfers every Π_{n'=n+1}^{N} T_{n'} steps and
        a slower tile stays frozen while the faster ones track (T_0 multiplies no clock).
        """
        n = self.n_tiles - 1
        if self.schedule == "fixed":
            te = self.transfer_every
            return tuple(te) if isinstance(te, tuple) else (te,) * n
        g = self.gamma_mix
        t_big = [0] * (n + 1)
        for m in range(1, n + 1):
            t_big[m] = math.ceil(g ** (-n) - 1e-9) if m == n else math.ceil(1.0 / g - 1e-9)
        out = []
        for k in range(n):
            out.append(math.prod(max(1, t) for t in t_big[k + 1 :]))
        return tuple(out)

    @property
    def transfer_rates(self) -> tuple[float, ...]:
        """``lr_transfer`` of each tile n = 0..N−1."""
        lt = self.lr_transfer
        return tuple(lt) if isinstance(lt, tuple) else (lt,) * (self.n_tiles - 1)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        MultiTile
            Three tiles of P4's 4-state device, gamma 0.1, expected mode.
        """
        return cls(
            device=Device(response=SoftBounds(w_max=1.0, w_min=-1.0), dw_min=0.5),
            n_tiles=3,
            gamma_mix=0.1,
            transfer_every=(4, 2),
            update=ExpectedUpdate(),
        )

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _MultiTileState(self, instance, root, n_threads, replica_offset, backend)


def tile_names(n_tiles: int) -> tuple[str, ...]:
    """Return the names of the tiles in ``arrays()``: "W" (tile 0), "W1", ..., "WN"."""
    return ("W", *(f"W{n}" for n in range(1, n_tiles)))


class _MultiTileState(AlgorithmState):
    def __init__(
        self,
        cfg: MultiTile,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        offset: int,
        backend: Backend,
    ) -> None:
        self.cfg = cfg
        self.replicas = instance.replicas
        self.n_in = instance.in_size
        self.n = cfg.n_tiles - 1
        dev_res = cfg.device if cfg.device_residual is None else cfg.device_residual
        slow_mode = cfg.update if cfg.transfer_update is None else cfg.transfer_update
        self.stack: list[AnalogTile] = []
        for k in range(self.n + 1):
            dev = cfg.device if k == 0 else dev_res
            mode = cfg.update if k == self.n else slow_mode
            self.stack.append(make_tile(instance, dev, mode, root, k, n_threads, offset, backend))
        self.stack[0].set_weights(instance.initial_weights())
        self.tiles = dict(zip(tile_names(cfg.n_tiles), self.stack, strict=True))
        # γⁿ by repeated products (γ·1 = γ exactly, as in ResidualLearning's W + γP).
        self.scales = [1.0]
        for _ in range(self.n):
            self.scales.append(self.scales[-1] * cfg.gamma_mix)
        self.periods = cfg.periods
        self.rates = cfg.transfer_rates
        c = cfg.columns_per_transfer
        self.n_cols = self.n_in if c == 0 else min(c, self.n_in)
        self.pointers = [0] * self.n
        self.events = [0] * self.n
        # Warm start (App. H): the tile each replica warms; N means the cascade runs.
        self.k = np.full(self.replicas, 0 if cfg.warm_start and self.n > 0 else self.n)
        self.history: list[list[float]] = [[] for _ in range(self.replicas)]
        self._loss_sum = np.zeros(self.replicas)
        self._loss_count = 0
        self.switches: list[list[int]] = [[] for _ in range(self.replicas)]
        if cfg.warm_start and self.n > 0:
            self.observe_loss = self._observe_loss

    observe_loss: Any = None
    """``observe_loss(step, loss)`` (loss per replica) when the warm start needs losses."""

    def gradient_point(self) -> FloatArray:
        # In place on the fresh copies the tiles return (the same values as w + s·t.weights).
        w = self.stack[0].weights
        for t, s in zip(self.stack[1:], self.scales[1:], strict=True):
            if s != 0.0:
                tw = t.weights
                tw *= s
                w += tw
        return w

    def effective_weights(self) -> FloatArray:
        return self.gradient_point()

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        # Each tile through the periphery, scaled by γⁿ and summed (P4's op-amp feedback).
        y = self.stack[0].forward(x, io=io or perfect_io())
        for t, s in zip(self.stack[1:], self.scales[1:], strict=True):
            if s != 0.0:
                y = y + s * t.forward(x, io=io or perfect_io())
        return y

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        y = self.stack[0].backward(d, io=io or perfect_io())
        for t, s in zip(self.stack[1:], self.scales[1:], strict=True):
            if s != 0.0:
                y = y + s * t.backward(d, io=io or perfect_io())
        return y

    def _read(self, src: AnalogTile, cols: list[int]) -> FloatArray:
        return src.read(cols, noise_std=self.cfg.read_noise_std, io=self.cfg.transfer_io)

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        cfg = self.cfg
        n_top = self.n
        self.stack[n_top].update(x, d, lr=cfg.lr)
        warm = cfg.warm_start and n_top > 0
        warm_due = warm and (step + 1) % self.periods[n_top - 1] == 0
        for n in range(n_top - 1, -1, -1):
            due = (step + 1) % self.periods[n] == 0
            if not (due or warm_due):
                continue
            cols = [(self.pointers[n] + c) % self.n_in for c in range(self.n_cols)]
            self.pointers[n] = (self.pointers[n] + self.n_cols) % self.n_in
            self.events[n] += 1
            if not warm:
                v = self._read(self.stack[n + 1], cols)
            else:
                # Per replica: the cascade (k = N) reads tile n + 1 when due; a replica warming
                # tile n reads the gradient tile at the warm events. Calls do not depend on k.
                v = np.zeros((self.replicas, self.stack[0].out_size, len(cols)))
                cascade = (self.k >= n_top)[:, None, None]
                warming = (self.k == n)[:, None, None]
                read = self._read(self.stack[n + 1], cols) if due else None
                if read is not None:
                    v = np.where(cascade, read, v)
                if warm_due:
                    # Tile N − 1's cascade source is the gradient tile too: one read serves both.
                    src = read if read is not None and n + 1 == n_top else None
                    if src is None:
                        src = self._read(self.stack[n_top], cols)
                    v = np.where(warming, src, v)
            xe = np.zeros((self.replicas, len(cols), self.n_in))
            xe[:, np.arange(len(cols)), cols] = 1.0
            # W⁽ⁿ⁾[:, j] += lr_transfer[n]·v_j  ⇔  ΔW = −lr_transfer Σ_j (−v_j) e_jᵀ.
            self.stack[n].update(xe, -v.transpose(0, 2, 1), lr=self.rates[n], phase=Phase.TRANSFER)

    def _observe_loss(self, step: int, loss: FloatArray) -> None:
        """Add one loss per replica; every ``plateau_every`` losses, test LossPlateau."""
        cfg = self.cfg
        self._loss_sum = self._loss_sum + np.asarray(loss, dtype=np.float64)
        self._loss_count += 1
        if self._loss_count < cfg.plateau_every:
            return
        mean = self._loss_sum / self._loss_count
        self._loss_sum = np.zeros(self.replicas)
        self._loss_count = 0
        for r in range(self.replicas):
            k = int(self.k[r])
            if k >= self.n:
                continue
            hist = self.history[r]
            hist.append(float(mean[r]))
            plateau = loss_plateau(
                hist,
                k,
                aggressive_until=cfg.plateau_aggressive_until,
                tol_aggressive=cfg.plateau_tol_aggressive,
                tol_mild=cfg.plateau_tol_mild,
                window=cfg.plateau_window,
                min_violations=cfg.plateau_violations,
            )
            if plateau:
                self.k[r] = k + 1
                self.switches[r].append(step)
                # The next tile's plateau is judged on losses from its own phase on.
                del hist[:-1]

    def arrays(self) -> dict[str, FloatArray]:
        return {name: t.weights for name, t in self.tiles.items()}

    def sp_error(self) -> FloatArray | None:
        """RMS over every element of tiles 1..N of their logical SP (the cascade assumes 0)."""
        errs = [residual_sp_error(t) for t in self.stack[1:]]
        kept = [e for e in errs if e is not None]
        if not kept:
            return None
        return np.asarray(np.sqrt(np.mean(np.square(kept), axis=0)), dtype=np.float64)


def from_aihwkit(
    device: Device,
    *,
    gamma_vec: Sequence[float],
    transfer_every_vec: Sequence[int],
    transfer_lr_vec: Sequence[float],
    **kwargs: Any,
) -> MultiTile:
    """Build a :class:`MultiTile` from P4's aihwkit vectors (index i = N − n; 0 is the gradient).

    ``gamma_vec`` has N + 1 entries γ^{N−i} (it fixes n_tiles and gamma_mix; it must be geometric
    with gamma_vec[N] = 1). ``transfer_every_vec`` and ``transfer_lr_vec`` are indexed by the
    source device (theory.md §3.13): entry i is the transfer out of aihwkit device i, i.e. into
    project tile n = N − i − 1; they have N or N + 1 entries (the last, out of tile 0, is unused).

    Parameters
    ----------
    device : Device
        Device of every tile.
    gamma_vec, transfer_every_vec, transfer_lr_vec : sequence
        aihwkit's vectors as in P4's scripts.
    **kwargs
        Further :class:`MultiTile` fields (``lr``, ``update``, ...).

    Returns
    -------
    MultiTile
        The matching config.

    Raises
    ------
    ParameterError
        A vector of the wrong length, or a gamma_vec that is not geometric.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> mt = from_aihwkit(pt.presets.p4_few_state(4), gamma_vec=[0.01, 0.1, 1.0],
    ...                   transfer_every_vec=[2, 4, 8], transfer_lr_vec=[0.01, 0.01, 0.01])
    >>> mt.n_tiles, mt.gamma_mix, mt.transfer_every
    (3, 0.1, (4, 2))
    """
    g = [float(v) for v in gamma_vec]
    n = len(g) - 1
    gamma = g[n - 1] if n >= 1 else 1.0
    if n < 0 or g[n] != 1.0 or any(abs(g[i] - gamma ** (n - i)) > 1e-12 for i in range(n + 1)):
        raise parameter_error(
            "gamma_vec", "from_aihwkit", "a geometric vector γ^{N−i} ending in 1", gamma_vec
        )
    vecs: dict[str, list[Any]] = {}
    for name, vec in (
        ("transfer_every_vec", transfer_every_vec),
        ("transfer_lr_vec", transfer_lr_vec),
    ):
        if len(vec) not in (n, n + 1):
            raise parameter_error(name, "from_aihwkit", f"a sequence of {n} or {n + 1} values", vec)
        vecs[name] = [vec[n - 1 - k] for k in range(n)]
    if n >= 1:
        kwargs["gamma_mix"] = gamma
    return MultiTile(
        device=device,
        n_tiles=n + 1,
        transfer_every=tuple(int(v) for v in vecs["transfer_every_vec"]),
        lr_transfer=tuple(float(v) for v in vecs["transfer_lr_vec"]),
        **kwargs,
    )


def aihwkit_vectors(cfg: MultiTile) -> dict[str, list[float]]:
    """Return the aihwkit vectors (index i = N − n) of a :class:`MultiTile`: the inverse map.

    Parameters
    ----------
    cfg : MultiTile
        The config.

    Returns
    -------
    dict
        ``gamma_vec`` (γ^{N−i}, N + 1 entries), ``transfer_every_vec`` and ``transfer_lr_vec``
        (N entries, by source device i = 0..N−1).

    Examples
    --------
    >>> import pulsetrain as pt
    >>> aihwkit_vectors(MultiTile(device=pt.presets.p4_few_state(4), n_tiles=2, gamma_mix=0.5))
    {'gamma_vec': [0.5, 1.0], 'transfer_every_vec': [1], 'transfer_lr_vec': [0.01]}
    """
    n = cfg.n_tiles - 1
    periods, rates = cfg.periods, cfg.transfer_rates
    return {
        "gamma_vec": [cfg.gamma_mix ** (n - i) for i in range(n + 1)],
        "transfer_every_vec": [periods[n - 1 - i] for i in range(n)],
        "transfer_lr_vec": [rates[n - 1 - i] for i in range(n)],
    }
