"""Zero-shift calibration: find each element's symmetric point by firing pulses (theory.md §3.9).

Under random ± pulses an element drifts to where its up and down responses balance, its
symmetric point (SP). Zero-shifting (P3 Alg. 1; Kim et al. 2019) fires N pulses per element,
takes the final state (or the average of the last M) as the SP estimate Ŵ◇, and can then program
the reference to it, which puts the logical SP at 0 as residual learning needs (§2.4). The pulses
run in Rust and count as CALIBRATION pulses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import Integral, NoneOr, parameter_error
from pulsetrain.tile import AnalogTile

__all__ = ["ZeroShiftMode", "ZeroShiftResult", "zero_shift"]

_N_PULSES = Integral(1, 1_000_000_000)
_THREADS = NoneOr(Integral(1, 1024))

FloatArray = npt.NDArray[np.float64]


class ZeroShiftMode(enum.Enum):
    """How the signs of the calibration pulses are chosen."""

    STOCHASTIC = "stochastic"
    """Each pulse is up or down with probability ½ (P3 Alg. 1)."""
    CYCLIC = "cyclic"
    """Pulses alternate up, down, up, …; an even count ends on a down pulse."""


@dataclass(frozen=True)
class ZeroShiftResult:
    """What a zero-shift calibration found.

    Attributes
    ----------
    estimate : numpy.ndarray
        Ŵ◇, the estimated SP of each element's physical state, (R, out, in).
    true_sp : numpy.ndarray
        The element's exact SP (from its device parameters), (R, out, in); NaN for an ideal device.
    pulses : numpy.ndarray
        Calibration pulses fired per replica, (R,).
    """

    estimate: FloatArray
    true_sp: FloatArray
    pulses: npt.NDArray[np.uint64]

    @property
    def error(self) -> FloatArray:
        """``estimate − true_sp`` per element, (R, out, in)."""
        return self.estimate - self.true_sp

    @property
    def rms_error(self) -> FloatArray:
        """Root-mean-square SP error per replica, (R,)."""
        e = self.error.reshape(self.error.shape[0], -1)
        return np.asarray(np.sqrt(np.mean(e**2, axis=1)), dtype=np.float64)

    @property
    def mean_relative_error(self) -> FloatArray:
        """|mean(Ŵ◇) − mean(W◇)| / |mean(W◇)| per replica (theory.md §6.18, H3), (R,)."""
        r = self.estimate.shape[0]
        est = self.estimate.reshape(r, -1).mean(axis=1)
        true = self.true_sp.reshape(r, -1).mean(axis=1)
        return np.asarray(np.abs(est - true) / np.abs(true), dtype=np.float64)


def zero_shift(
    tile: AnalogTile,
    n_pulses: int,
    *,
    mode: ZeroShiftMode | str = ZeroShiftMode.STOCHASTIC,
    average_last: int = 1,
    program_reference: bool = False,
    n_threads: int | None = None,
) -> ZeroShiftResult:
    """Fire `n_pulses` calibration pulses on every element and estimate its symmetric point.

    Parameters
    ----------
    tile : AnalogTile
        The array to calibrate; its state ends at (near) its SP, as in hardware.
    n_pulses : int
        Pulses per element, 1 to 1e9. The cost is n_pulses per element (theory.md §4.6).
    mode : ZeroShiftMode or str, optional
        "stochastic" (default) or "cyclic".
    average_last : int, optional
        Average the state over the last M pulses (P3's default M = 1), 1 ≤ M ≤ n_pulses.
    program_reference : bool, optional
        Also program the tile's reference to the estimate, so its logical SP moves to about 0.
    n_threads : int or None, optional
        Kernel threads; results do not depend on it.

    Returns
    -------
    ZeroShiftResult
        The estimate, the true SP and the pulses spent.

    Raises
    ------
    ParameterError
        A bad count or mode.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> dev = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-2)
    >>> tile = pt.AnalogTile(4, 4, dev, replicas=2, rng=0)
    >>> res = zero_shift(tile, 2000, mode="cyclic")
    >>> bool(abs(res.estimate.mean() - 0.3) < 0.01)
    True
    """
    if not isinstance(tile, AnalogTile):
        raise parameter_error("tile", "zero_shift", "a pulsetrain.AnalogTile", tile)
    # Checked here, not only in the core: ints beyond i64 must not surface as OverflowError.
    try:
        zs_mode = ZeroShiftMode(mode)
    except ValueError:
        raise parameter_error("mode", "zero_shift", "'stochastic' or 'cyclic'", mode) from None
    n_pulses = cast("int", _N_PULSES.validate(n_pulses, name="n_pulses", owner="zero_shift"))
    # Not Integral(1, n_pulses): an Interval needs low < high, so n_pulses = 1 would fail there.
    average_last = cast(
        "int", _N_PULSES.validate(average_last, name="average_last", owner="zero_shift")
    )
    if average_last > n_pulses:
        raise parameter_error(
            "average_last", "zero_shift", f"an int in the range [1, {n_pulses}]", average_last
        )
    n_threads = cast(
        "int | None", _THREADS.validate(n_threads, name="n_threads", owner="zero_shift")
    )
    before = tile.pulse_counts("calibration").reshape(tile.replicas, -1).sum(axis=1)
    estimate = np.asarray(
        tile._tile.zero_shift(
            int(n_pulses), zs_mode is ZeroShiftMode.CYCLIC, int(average_last), n_threads
        )
    )
    after = tile.pulse_counts("calibration").reshape(tile.replicas, -1).sum(axis=1)
    true_sp = tile.maps()["symmetric_point"]
    if program_reference:
        tile.set_reference(estimate)
    return ZeroShiftResult(estimate=estimate, true_sp=true_sp, pulses=after - before)
