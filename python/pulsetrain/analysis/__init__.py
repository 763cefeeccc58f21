"""Analysis quantities of shared/theory.md §4: penalty, fixed points, bounds and filters.

Everything here is plain NumPy (the optional ``fit`` extra is never needed) and takes the
devices of :mod:`pulsetrain.devices` (a :class:`~pulsetrain.devices.Device` or any response
family):

* :mod:`~pulsetrain.analysis.device`: ``F``, ``G``, ``R = G/F``, the penalty ``R_c``, the
  saturation ``M``, the SP slope ``R'(w◇)``, ``n_states`` and the saturation degree (§1.3, §4.1,
  §4.3).
* :mod:`~pulsetrain.analysis.penalty`: the implicit objective, the fixed-point predictor and the
  exact scalar fixed point, the amplification factors, the error-bound forms and the lower-bound
  instance (§4.1-4.5).
* :mod:`~pulsetrain.analysis.filters`: the SP-tracking EMA filter (§4.7).
* :mod:`~pulsetrain.analysis.zero_shift`: zero-shift pulse complexity, exact linear-``G``
  moments, P3 Cor. 3.9's pulse totals and the SP estimation error (§4.6, §6.18).

Examples
--------
>>> from pulsetrain import ALD
>>> from pulsetrain import analysis
>>> round(analysis.exact_scalar_fixed_point(ALD(tau=1.0), 0.5, 1.0, 0.5), 6)
0.353098
"""

from __future__ import annotations

from pulsetrain.analysis.device import (
    DeviceLike,
    F,
    G,
    R,
    R_c,
    n_states,
    saturation,
    saturation_degree,
    slope_at_sp,
)
from pulsetrain.analysis.filters import (
    chopped_ema_second_moment,
    ema_cutoff,
    ema_response,
    simulate_ema,
)
from pulsetrain.analysis.penalty import (
    R_T,
    S_K_ald,
    S_K_ald_bound,
    S_K_asgd,
    analog_gd_bound_p1,
    analog_gd_bound_p2,
    asgd_error_bound_p1,
    asgd_error_bound_p2,
    effective_update,
    exact_scalar_fixed_point,
    expected_abs_gaussian,
    implicit_objective,
    lower_bound_expected_abs,
    lower_bound_noise,
    predicted_fixed_point,
    predicted_fixed_point_scalar,
    rider_bound_p3,
    rl_bound_p1,
    single_tile_bound_p4,
    tt_bound_p2,
    tt_p_max_p2,
)
from pulsetrain.analysis.zero_shift import (
    SPError,
    rider_total_pulses,
    sp_estimation_error,
    two_stage_total_pulses,
    zs_average_iterate_bound,
    zs_average_iterate_pulses,
    zs_cyclic_floor,
    zs_cyclic_pairs,
    zs_last_iterate_bound,
    zs_last_iterate_floor,
    zs_last_iterate_pulses,
    zs_linear_cyclic_fixed_point,
    zs_linear_mean,
    zs_linear_moments,
    zs_linear_stationary_variance,
)

__all__ = [
    "R_T",
    "DeviceLike",
    "F",
    "G",
    "R",
    "R_c",
    "SPError",
    "S_K_ald",
    "S_K_ald_bound",
    "S_K_asgd",
    "analog_gd_bound_p1",
    "analog_gd_bound_p2",
    "asgd_error_bound_p1",
    "asgd_error_bound_p2",
    "chopped_ema_second_moment",
    "effective_update",
    "ema_cutoff",
    "ema_response",
    "exact_scalar_fixed_point",
    "expected_abs_gaussian",
    "implicit_objective",
    "lower_bound_expected_abs",
    "lower_bound_noise",
    "n_states",
    "predicted_fixed_point",
    "predicted_fixed_point_scalar",
    "rider_bound_p3",
    "rider_total_pulses",
    "rl_bound_p1",
    "saturation",
    "saturation_degree",
    "simulate_ema",
    "single_tile_bound_p4",
    "slope_at_sp",
    "sp_estimation_error",
    "tt_bound_p2",
    "tt_p_max_p2",
    "two_stage_total_pulses",
    "zs_average_iterate_bound",
    "zs_average_iterate_pulses",
    "zs_cyclic_floor",
    "zs_cyclic_pairs",
    "zs_last_iterate_bound",
    "zs_last_iterate_floor",
    "zs_last_iterate_pulses",
    "zs_linear_cyclic_fixed_point",
    "zs_linear_mean",
    "zs_linear_moments",
    "zs_linear_stationary_variance",
]
