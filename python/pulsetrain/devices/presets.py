"""Published devices as ready-made :class:`~pulsetrain.devices.Device` configs (theory.md §2.2).

Each preset is a function returning a :class:`~pulsetrain.devices.Device`; its docstring cites
the paper (and table or figure) its values come from, and says what is and is not matched.
:data:`PRESETS` maps the names that ``pulsetrain devices`` lists to :class:`Preset` records.
Sources (shared/theory.md): **P1** Wu et al., NeurIPS 2025 (arXiv 2502.06309); **P2** Wu et al.,
NeurIPS 2024 (arXiv 2406.12774); **P3** Xiao et al. (arXiv 2602.21321); **P4** Li et al. (arXiv
2510.02516); **B1** Rasch et al., Nat. Commun. 15:7133 (2024).

aihwkit 1.1.0's presets (``simulator/presets/devices.py``) are here where a pulsetrain response
is their law: ``ReRamSB`` (soft bounds, also as an exact table), ``GokmenVlasov`` and
``Idealized`` (constant step = :class:`~pulsetrain.devices.Ideal`), ``EcRam``, ``EcRamMO`` and
``Capacitor`` (linear step as exact 2-node tables), ``ReRamArrayOM``/``HfO2`` (soft bounds), and
``ReRamES`` (aihwkit's exponential step, sampled on 41 nodes with a stated error bound). Not
here: ``PCMPresetDevice``, a one-directional device that aihwkit only uses as a refreshed
pair (``PCMPresetUnitCell``) with resets and a weight-dependent noise (``dw_min_std_add``,
``dw_min_std_slope``), none of which pulsetrain models.

Examples
--------
>>> from pulsetrain.devices import presets
>>> presets.skew_linear().symmetric_point()
1.05
>>> sorted(presets.PRESETS)[:3]
['ald', 'capacitor_li2018_piecewise', 'ecram_kim2019_piecewise']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypedDict

from pulsetrain._validation import parameter_error
from pulsetrain.devices import (
    ALD,
    C2CMode,
    Device,
    Exponential,
    ExpStep,
    Ideal,
    Piecewise,
    Power,
    PowerStep,
    SkewLinear,
    SoftBounds,
)

__all__ = [
    "PRESETS",
    "ExpStepShape",
    "Preset",
    "StepFields",
    "ald",
    "capacitor_li2018_piecewise",
    "ecram_kim2019_piecewise",
    "ecram_tang2018_piecewise",
    "exp_step",
    "exp_step_table",
    "exp_step_table_error",
    "exponential",
    "from_aihwkit_steps",
    "get",
    "gokmen_vlasov2016",
    "idealized_rasch2019",
    "linear_step_table",
    "p4_few_state",
    "power",
    "power_step",
    "rram_es_gong2018_piecewise",
    "rram_gong2018_piecewise",
    "rram_hfo2",
    "rram_hfo2_piecewise",
    "rram_om_piecewise",
    "rram_sb_gong2018",
    "rram_sb_gong2018_piecewise",
    "skew_linear",
    "softbounds_b1",
]


def ald() -> Device:
    """Asymmetric linear device of P2's MNIST runs (P2 §2.2, Fig. 5 / Table 2).

    ALD with τ = 0.8 and symmetric point 0 (P2 sweeps τ ∈ {0.70, 0.78, 0.80} for the FCN and
    {0.6, 0.7, 0.8} for the CNN), Δw_min = 1e−3 (P2 Table 2 runs; theory.md H4). No cycle-to-cycle
    noise or device-to-device spread: P2's analysis uses the clean model.

    Returns
    -------
    Device
        ``Device(response=ALD(tau=0.8), dw_min=1e-3)``: 1600 states.
    """
    return Device(response=ALD(tau=0.8), dw_min=1e-3)


def skew_linear(c_lin: float = 0.3) -> Device:
    """Skew-linear device of P1 Fig. 2 (P1 §4; theory.md §2.1, H2).

    q₊ = (1 + c)(1 − w/τ), q₋ = (1 − c)(1 + w/τ) with τ = 3.5 and Δw_min = 1e−4 (P1 Fig. 2's
    least-squares toy); P1 sweeps c ∈ {0, 0.1, 0.2, 0.3}. The symmetric point is c·τ (1.05 at
    the default c = 0.3). No noise or spread, as in the figure.

    Parameters
    ----------
    c_lin : float, optional
        Skew c, in (−1, 1); the default is the largest of P1's sweep.

    Returns
    -------
    Device
        ``Device(response=SkewLinear(tau=3.5, c_lin=c_lin), dw_min=1e-4)``.
    """
    return Device(response=SkewLinear(tau=3.5, c_lin=c_lin), dw_min=1e-4)


def power() -> Device:
    """Power-response device of P1 Table 1 (P1 Eq. 148; theory.md H7).

    q± = (1 ∓ w/τ)^γ with γ = 3 and τ = 0.1 (P1 Table 1, the ResNet last-layer runs), symmetric
    point 0, and P1 Table 4's default Δw_min = 1e−3 (200 states on [−0.1, 0.1]; P1's scripts use
    2τ/1200 instead, theory.md §6.3).

    Returns
    -------
    Device
        ``Device(response=Power(tau=0.1, gamma_res=3.0), dw_min=1e-3)``.
    """
    return Device(response=Power(tau=0.1, gamma_res=3.0), dw_min=1e-3)


def exponential() -> Device:
    """Exponential-response device of P1 Table 8 (P1 Eq. 149; theory.md H6).

    q± = (e^{γ(1 ∓ w/τ)} − 1)/(e^γ − 1) with γ = 2 and τ = 0.7, the cell of P1 Table 8 (FCN on
    MNIST, γ ∈ {0.5, 1, 2} × τ ∈ {0.6, 0.7, 0.8}) where residual learning does best and Analog
    SGD fails; symmetric point 0; Δw_min = 1e−3 (P1 Table 4).

    Returns
    -------
    Device
        ``Device(response=Exponential(tau=0.7, gamma_res=2.0), dw_min=1e-3)``.
    """
    return Device(response=Exponential(tau=0.7, gamma_res=2.0), dw_min=1e-3)


def power_step() -> Device:
    """Power-step device (P2 App. C.2; theory.md §2.1, C8).

    q₊ = ((τ_max − w)/Δτ)^γ₊, q₋ = ((w − τ_min)/Δτ)^γ₋ on [−1, 1] with γ₊ = 1, γ₋ = 2. P2 gives
    the family but no values; these are the project's check values (theory.md C8), whose
    symmetric point is √5 − 2 ≈ 0.236. Δw_min = 1e−3.

    Returns
    -------
    Device
        ``Device(response=PowerStep(gamma_up=1.0, gamma_down=2.0), dw_min=1e-3)``.
    """
    return Device(response=PowerStep(gamma_up=1.0, gamma_down=2.0), dw_min=1e-3)


def exp_step() -> Device:
    """Exponential-step device (P2 App. C.3; theory.md §2.1, C8).

    q₊ = 1 − e^{−γ₊(τ_max − w)/Δτ}, q₋ = 1 − e^{−γ₋(w − τ_min)/Δτ} on [−1, 1] with γ₊ = 2,
    γ₋ = 1. P2 gives no values; these are theory.md C8's, symmetric point 1/3. Δw_min = 1e−3.

    Returns
    -------
    Device
        ``Device(response=ExpStep(gamma_up=2.0, gamma_down=1.0), dw_min=1e-3)``.
    """
    return Device(response=ExpStep(gamma_up=2.0, gamma_down=1.0), dw_min=1e-3)


def softbounds_b1() -> Device:
    """B1's soft-bounds device with device-to-device variation (B1 Eq. 4–8; theory.md §1.1).

    Soft bounds on [−1, 1] with δ = Δw_min = 0.05 (40 states) and B1's illustration spreads, every
    σ = 0.3: log-normal step gain γ_d = exp(0.3ξ) (``dw_min_dtod``), up/down imbalance ρ = 0.3ξ
    (``up_down_dtod``), bounds ±(1 + 0.3ξ) (``w_max_dtod``, ``w_min_dtod``). So every element has
    its own symmetric point 2ρ/((γ_d + ρ)/w_max − (γ_d − ρ)/w_min).

    Matched: the response law and the four spreads. Not matched: B1 clamps a bound that crosses
    0 at 0, while pulsetrain (like aihwkit) reflects it (|1 + σξ|, floored at 1e−3); with σ = 0.3
    that needs ξ < −3.33, about 1 bound in 2300. Cycle-to-cycle noise is not part of the quoted
    illustration and is 0 here (set ``dw_min_std`` to add it).

    Returns
    -------
    Device
        A soft-bounds :class:`Device` with the B1 spreads.
    """
    return Device(
        response=SoftBounds(w_max=1.0, w_min=-1.0),
        dw_min=0.05,
        dw_min_dtod=0.3,
        dw_min_dtod_log_normal=True,
        up_down_dtod=0.3,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
    )


def rram_hfo2() -> Device:
    """RRAM HfO₂: aihwkit's ``ReRamArrayHfO2PresetDevice`` (Gong et al. 2022), P3 Tables 1–2.

    These are aihwkit library values, not values printed in P3 (theory.md §2.2): a soft-bounds
    reference device on [−1, 1] with dw_min 0.4622 (≈ 4.3 states), log-normal dw_min_dtod
    0.7125, up_down_dtod 0.01, w_max_dtod 0.4295, w_min_dtod 0.5990, additive cycle-to-cycle
    noise dw_min_std 0.2174 (in units of the element's own step, as aihwkit), and the symmetry
    point subtracted through the reference with reference_std 0.05 (reference_mean 0), so each
    element's read-out SP is −0.05ξ.

    Matched exactly: every value above, up_down 0, slope dtods 0, aihwkit's
    ``enforce_consistency`` (steps taken in absolute value, bounds reflected to their side of 0;
    pulsetrain also floors the bound scale |1 + σξ| at 1e−3, which aihwkit does not), corrupt
    devices off (corrupt_devices_prob 0, as in aihwkit's preset).

    **Not modelled** (so this is not the full aihwkit device):

    * write noise (``write_noise_std`` 0.5841, ≈ 0.27 in weight units): pulsetrain has no
      hidden/visible weight split yet, so reads see the pulsed weight itself. Expect this preset
      to be less noisy than aihwkit's, above all for reads and forward passes;
    * resets (``reset_std`` 0.01): no pulsetrain algorithm resets columns yet;
    * the update and IO settings: aihwkit has no rpu_config preset for this device; choose them
      in the algorithm (theory.md §2.2 lists the stock ``*Preset`` update settings).

    P3's reference offsets (its "Ref Mean/Std" table axes) are added by replacing
    ``reference_mean``/``reference_std``, e.g. ``dataclasses.replace(rram_hfo2(),
    reference_mean=0.2, reference_std=0.7)``.

    Returns
    -------
    Device
        The RRAM HfO₂ device.
    """
    return Device(
        response=SoftBounds(w_max=1.0, w_min=-1.0),
        dw_min=0.4622,
        dw_min_std=0.2174,
        c2c_mode=C2CMode.ADDITIVE,
        dw_min_dtod=0.7125,
        dw_min_dtod_log_normal=True,
        up_down_dtod=0.01,
        w_max_dtod=0.4295,
        w_min_dtod=0.5990,
        reference_mean=0.0,
        reference_std=0.05,
        subtract_symmetry_point=True,
    )


def p4_few_state(n_states: int = 4) -> Device:
    """P4's few-state soft-bounds device (P4 Tables 1–2; theory.md §2.2).

    Soft bounds on [−1, 1] with Δw_min = 2/n_states; P4 uses 4, 10 and 16 states (Δw_min 0.5,
    0.2, 0.125). No noise or spread (P4's runs use perfect IO and the clean device).

    Parameters
    ----------
    n_states : int, optional
        Number of states, at least 2 (default 4, P4's hardest setting).

    Returns
    -------
    Device
        ``Device(response=SoftBounds(), dw_min=2 / n_states)``.

    Raises
    ------
    ParameterError
        If ``n_states`` is not an int of at least 2.
    """
    if isinstance(n_states, bool) or not isinstance(n_states, int) or n_states < 2:
        raise parameter_error("n_states", "p4_few_state", "an int of at least 2", n_states)
    return Device(response=SoftBounds(w_max=1.0, w_min=-1.0), dw_min=2.0 / n_states)


def _soft_bounds_table() -> Piecewise:
    """Soft bounds on [−1, 1] as a 2-node table: q₊ = 1 − w, q₋ = 1 + w at nominal bounds."""
    return Piecewise(w_min=-1.0, w_max=1.0, piecewise_up=(2.0, 0.0), piecewise_down=(0.0, 2.0))


def rram_om_piecewise() -> Device:
    """RRAM "optimized material": aihwkit's ``ReRamArrayOMPresetDevice`` as a piecewise table.

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py``, a fit to the "Optimized Material"
    ReRAM array of Gong & Rasch et al., IEDM 2022 (doi:10.1109/IEDM45625.2022.10019569),
    Fig. 2-3. aihwkit models it as a ``SoftBoundsReferenceDevice``: it has **no** piecewise
    vectors (nor has any aihwkit 1.1.0 preset), so the table here is the soft-bounds law itself
    on two nodes, ``piecewise_up = (2, 0)``, ``piecewise_down = (0, 2)`` on ``[−1, 1]``, which
    equals ``q₊ = 1 − w``, ``q₋ = 1 + w`` at the nominal bounds (symmetric point 0).

    Values (aihwkit): dw_min 0.0949, log-normal dw_min_dtod 0.7829, up_down_dtod 0.01,
    w_max_dtod 0.3499, w_min_dtod 0.5695, additive cycle-to-cycle noise dw_min_std 0.4158,
    symmetric point subtracted through a reference with reference_std 0.05.

    Differences: with bound spread the node grid stretches to each element's own bounds, so
    ``q₊(lo_e) = 2`` stays fixed, while soft bounds give ``q₊ = 1 − w/hi_e`` (the slope follows
    ``hi_e`` alone); use :func:`rram_hfo2`-style ``SoftBounds`` for aihwkit's exact law. Write
    noise (1.4113), resets and corrupt devices (probability 0 in the preset) are not modelled.

    Returns
    -------
    Device
        A 2-node :class:`~pulsetrain.devices.Piecewise` device with the aihwkit spreads.
    """
    return Device(
        response=_soft_bounds_table(),
        dw_min=0.0949,
        dw_min_std=0.4158,
        c2c_mode=C2CMode.ADDITIVE,
        dw_min_dtod=0.7829,
        dw_min_dtod_log_normal=True,
        up_down_dtod=0.01,
        w_max_dtod=0.3499,
        w_min_dtod=0.5695,
        reference_mean=0.0,
        reference_std=0.05,
        subtract_symmetry_point=True,
    )


def rram_hfo2_piecewise() -> Device:
    """RRAM HfO₂: aihwkit's ``ReRamArrayHfO2PresetDevice`` as a piecewise table.

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py``, the "Baseline HfO2" array of Gong &
    Rasch et al., IEDM 2022 (Fig. 2-3); the same values as :func:`rram_hfo2` (dw_min 0.4622,
    log-normal dw_min_dtod 0.7125, up_down_dtod 0.01, w_max_dtod 0.4295, w_min_dtod 0.5990,
    additive dw_min_std 0.2174, reference_std 0.05 with the symmetric point subtracted), with the
    soft-bounds law written as the 2-node table of :func:`rram_om_piecewise` (aihwkit has no
    piecewise vectors for it). The differences of that docstring apply: under bound spread the
    grid stretches with the element's bounds; write noise (0.5841) is not modelled.

    Returns
    -------
    Device
        A 2-node :class:`~pulsetrain.devices.Piecewise` device with the aihwkit spreads.
    """
    return dataclasses.replace(rram_hfo2(), response=_soft_bounds_table())


def linear_step_table(w_min: float, w_max: float, gamma_up: float, gamma_down: float) -> Piecewise:
    """Return the ``LinearStepDevice`` law of aihwkit as an exact 2-node table.

    aihwkit 1.1.0 (``simulator/configs/devices.py``, ``LinearStepDevice``, its update Eq.):
    a pulse moves the weight by ``Δw_min·(γ^d·w + 1)`` with ``γ^+ = −γ_up/b_max`` and
    ``γ^- = −γ_down/b_min``, so ``q₊(w) = 1 − γ_up·w/w_max`` and
    ``q₋(w) = 1 − γ_down·w/w_min`` (``w_min < 0``). Both are linear in ``w``, so the two-node
    table on ``[w_min, w_max]`` (their values at the bounds) interpolates them exactly; both
    are 1 at ``w = 0``, the symmetric point. At the nominal bounds this is aihwkit's law with
    ``mean_bound_reference`` (slopes from the mean bounds).

    Parameters
    ----------
    w_min, w_max : float
        The bounds, ``w_min < 0 < w_max``.
    gamma_up, gamma_down : float
        aihwkit's ``gamma_up``, ``gamma_down`` (≥ 0; the response stays positive at both bounds
        when they are below 1, as in every aihwkit preset).

    Returns
    -------
    Piecewise
        ``piecewise_up = (q₊(w_min), q₊(w_max))``, ``piecewise_down`` likewise.
    """

    def up(w: float) -> float:
        return 1.0 - gamma_up * w / w_max

    def down(w: float) -> float:
        return 1.0 - gamma_down * w / w_min

    return Piecewise(
        w_min=w_min,
        w_max=w_max,
        piecewise_up=(up(w_min), up(w_max)),
        piecewise_down=(down(w_min), down(w_max)),
    )


def ecram_tang2018_piecewise() -> Device:
    """Li-ion ECRAM: aihwkit's ``EcRamPresetDevice`` as an exact 2-node table.

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py`` (``EcRamPresetDevice``), a fit of
    aihwkit's ``LinearStepDevice`` (see :func:`linear_step_table` for its Eq.) to the lithium
    ECRAM of Tang et al., IEDM 2018 (doi:10.1109/IEDM.2018.8614551), range shifted so that the
    symmetric point is 0: bounds [−0.8276, 1.1724], gamma_up 0.1153, gamma_down 0.5085,
    dw_min 0.002, multiplicative cycle-to-cycle noise dw_min_std 0.3, dw_min_dtod 0.1,
    up_down_dtod 0.01, w_max_dtod = w_min_dtod = 0.05.

    Differences: Not modelled: aihwkit's device-to-device spread of the
    slopes (gamma_up_dtod, gamma_down_dtod). With bound spread the node grid stretches to each
    element's own bounds, so the slopes follow the element's bounds, where aihwkit's
    ``mean_bound_reference`` keeps the nominal ones.

    Returns
    -------
    Device
        A 2-node :class:`~pulsetrain.devices.Piecewise` device (1000 states) with the aihwkit
        noise and spreads.
    """
    return Device(
        response=linear_step_table(-0.8276, 1.1724, 0.1153, 0.5085),
        dw_min=0.002,
        dw_min_std=0.3,
        c2c_mode=C2CMode.MULTIPLICATIVE,
        dw_min_dtod=0.1,
        up_down_dtod=0.01,
        w_max_dtod=0.05,
        w_min_dtod=0.05,
    )


def ecram_kim2019_piecewise() -> Device:
    """Metal-oxide ECRAM: aihwkit's ``EcRamMOPresetDevice`` as an exact 2-node table.

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py`` (``EcRamMOPresetDevice``), aihwkit's
    ``LinearStepDevice`` (see :func:`linear_step_table` for its Eq.) on data of Kim et al.,
    IEDM 2019 (doi:10.1109/IEDM19573.2019.8993463): bounds [−0.8286, 1.1714], gamma_up 0.4152,
    gamma_down 0.7342, dw_min 2.8214e−4, multiplicative cycle-to-cycle noise dw_min_std 2.0,
    dw_min_dtod 0.1, up_down_dtod 0.01, w_max_dtod = w_min_dtod = 0.05.

    Differences: Not modelled: aihwkit's device-to-device spread of the
    slopes (gamma_up_dtod, gamma_down_dtod). With bound spread the node grid stretches to each
    element's own bounds, so the slopes follow the element's bounds, where aihwkit's
    ``mean_bound_reference`` keeps the nominal ones.

    Returns
    -------
    Device
        A 2-node :class:`~pulsetrain.devices.Piecewise` device (about 7089 states) with the
        aihwkit noise and spreads.
    """
    return Device(
        response=linear_step_table(-0.8286, 1.1714, 0.4152, 0.7342),
        dw_min=2.8214e-4,
        dw_min_std=2.0,
        c2c_mode=C2CMode.MULTIPLICATIVE,
        dw_min_dtod=0.1,
        up_down_dtod=0.01,
        w_max_dtod=0.05,
        w_min_dtod=0.05,
    )


def capacitor_li2018_piecewise() -> Device:
    """CMOS capacitor cell: aihwkit's ``CapacitorPresetDevice`` as an exact 2-node table.

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py`` (``CapacitorPresetDevice``), aihwkit's
    ``LinearStepDevice`` (see :func:`linear_step_table` for its Eq.) fitted to the capacitor
    cell of Li et al., VLSI 2018 (doi:10.1109/VLSIT.2018.8510648): bounds [−1, 1], gamma_up =
    gamma_down = 0.05, dw_min 0.005, additive cycle-to-cycle noise dw_min_std 0.3, dw_min_dtod
    0.1, up_down_dtod 0.06, w_max_dtod = w_min_dtod = 0.07.

    Differences: Not modelled: aihwkit's device-to-device spread of the
    slopes (gamma_up_dtod, gamma_down_dtod). With bound spread the node grid stretches to each
    element's own bounds, so the slopes follow the element's bounds, where aihwkit's
    ``mean_bound_reference`` keeps the nominal ones. The capacitor's leakage (aihwkit's
    ``lifetime`` 1e6 with ``lifetime_dtod`` 0.3, a decay once per mini-batch) is not modelled
    either.

    Returns
    -------
    Device
        A 2-node :class:`~pulsetrain.devices.Piecewise` device (400 states) with the aihwkit
        noise and spreads.
    """
    return Device(
        response=linear_step_table(-1.0, 1.0, 0.05, 0.05),
        dw_min=0.005,
        dw_min_std=0.3,
        c2c_mode=C2CMode.ADDITIVE,
        dw_min_dtod=0.1,
        up_down_dtod=0.06,
        w_max_dtod=0.07,
        w_min_dtod=0.07,
    )


def _aihwkit_exp_step_q(
    w: float,
    w_min: float,
    w_max: float,
    a: float,
    b: float,
    gamma: float,
    big_a: float,
    *,
    up: bool,
) -> float:
    """Return aihwkit's ``ExpStepDevice`` step factor ``max(1 − A e^{±γ z}, 0)`` at ``w``."""
    z = 2.0 * a * w / (w_max - w_min) + b
    return max(1.0 - big_a * math.exp(gamma * z if up else -gamma * z), 0.0)


def exp_step_table(
    w_min: float,
    w_max: float,
    *,
    a: float,
    b: float,
    gamma_up: float,
    gamma_down: float,
    a_up: float,
    a_down: float,
    n_intervals: int,
) -> Piecewise:
    """Return aihwkit's ``ExpStepDevice`` law sampled on ``n_intervals + 1`` equal nodes.

    aihwkit 1.1.0 (``simulator/configs/devices.py``, ``ExpStepDevice``, and its kernel
    ``src/rpucuda/rpu_expstep_device.cpp``, ``update_once``): with
    ``z = 2·a·w/(b_max − b_min) + b`` an up pulse moves the weight by
    ``Δw_min·max(1 − A_up·e^{γ_up z}, 0)`` and a down pulse by
    ``Δw_min·max(1 − A_down·e^{−γ_down z}, 0)``, then clips to the bounds. So
    ``q₊(w) = max(1 − A_up e^{γ_up z}, 0)`` and ``q₋(w) = max(1 − A_down e^{−γ_down z}, 0)``;
    the table holds these values at the nodes (pulsetrain interpolates linearly between them).
    pulsetrain's own :class:`~pulsetrain.devices.ExpStep` is a different law (P2's, which
    vanishes at the bounds), so aihwkit's is only available as a table.

    Parameters
    ----------
    w_min, w_max : float
        The bounds, ``w_min < w_max``.
    a, b, gamma_up, gamma_down, a_up, a_down : float
        aihwkit's ``a``, ``b``, ``gamma_up``, ``gamma_down``, ``A_up``, ``A_down``.
    n_intervals : int
        Number of equal intervals of the node grid (≥ 1).

    Returns
    -------
    Piecewise
        The sampled table; :func:`exp_step_table_error` bounds its interpolation error.

    Raises
    ------
    ParameterError
        If ``n_intervals`` is not an int ≥ 1 (the other values are checked by
        :class:`~pulsetrain.devices.Piecewise`).
    """
    if isinstance(n_intervals, bool) or not isinstance(n_intervals, int) or n_intervals < 1:
        raise parameter_error("n_intervals", "exp_step_table", "an int of at least 1", n_intervals)
    nodes = [w_min + k * (w_max - w_min) / n_intervals for k in range(n_intervals + 1)]
    return Piecewise(
        w_min=w_min,
        w_max=w_max,
        piecewise_up=tuple(
            _aihwkit_exp_step_q(w, w_min, w_max, a, b, gamma_up, a_up, up=True) for w in nodes
        ),
        piecewise_down=tuple(
            _aihwkit_exp_step_q(w, w_min, w_max, a, b, gamma_down, a_down, up=False) for w in nodes
        ),
    )


def exp_step_table_error(
    w_min: float,
    w_max: float,
    *,
    a: float,
    b: float,
    gamma_up: float,
    gamma_down: float,
    a_up: float,
    a_down: float,
    n_intervals: int,
) -> tuple[float, float]:
    """Bound the interpolation error of :func:`exp_step_table` on ``[w_min, w_max]``.

    Linear interpolation of a twice differentiable ``f`` on nodes ``h`` apart is off by at most
    ``h²/8 · max|f''|`` (the interpolation remainder ``f''(ξ)(w − w_k)(w − w_{k+1})/2``, whose
    node factor peaks at ``h²/4``). For ``f = 1 − A e^{c w + d}`` (``c = ±2aγ/(w_max − w_min)``)
    ``|f''| = |A| c² e^{c w + d}`` is monotone, so its maximum is at a bound. Valid when the
    ``max(·, 0)`` clip is inactive (``f > 0`` on the range, as for every aihwkit preset);
    otherwise the kink breaks the bound and this raises.

    Parameters
    ----------
    w_min, w_max, a, b, gamma_up, gamma_down, a_up, a_down, n_intervals
        As for :func:`exp_step_table`.

    Returns
    -------
    tuple of float
        ``(bound on |Δq₊|, bound on |Δq₋|)``, in the dimensionless units of ``q``.

    Raises
    ------
    ParameterError
        If the law reaches 0 (is clipped) somewhere in the range.
    """
    h = (w_max - w_min) / n_intervals
    out = []
    for gamma, big_a, up in ((gamma_up, a_up, True), (gamma_down, a_down, False)):
        sign = 1.0 if up else -1.0
        c = sign * gamma * 2.0 * a / (w_max - w_min)
        ends = [sign * gamma * (2.0 * a * w / (w_max - w_min) + b) for w in (w_min, w_max)]
        if any(1.0 - big_a * math.exp(e) <= 0.0 for e in ends):
            raise parameter_error(
                "a_up" if up else "a_down",
                "exp_step_table_error",
                "a law that stays positive on the range (no max(·, 0) kink)",
                big_a,
            )
        out.append(h * h / 8.0 * abs(big_a) * c * c * max(math.exp(e) for e in ends))
    return out[0], out[1]


class StepFields(TypedDict):
    """The four :class:`~pulsetrain.devices.Device` fields :func:`from_aihwkit_steps` returns."""

    dw_min: float
    up_down: float
    dw_min_dtod: float
    up_down_dtod: float


def from_aihwkit_steps(
    dw_min: float, up_down: float, dw_min_dtod: float, up_down_dtod: float
) -> StepFields:
    """Convert aihwkit's step parameters to pulsetrain's, so the element steps are the same.

    aihwkit 1.1.0's kernel (``src/rpucuda/rpu_pulsed_device.cpp``, ``populate``) draws each
    element's steps as ``up = Δw_min·(g + b₊ + ρ)`` and ``down = Δw_min·(g + b₋ − ρ)`` with
    ``g = 1 + dw_min_dtod·ξ``, ``ρ = up_down_dtod·ξ'`` and the mean imbalance taken off the
    weaker direction only: ``b₊ = min(up_down, 0)``, ``b₋ = −max(up_down, 0)``. (Its
    docstring's ``1 + d·β`` would scale both directions; the kernel does not.) pulsetrain's
    :class:`~pulsetrain.devices.Device` draws ``Δw_min'·(g' ± r)`` with ``g' = 1 +
    dw_min_dtod'·ξ``, ``r = up_down' + up_down_dtod'·ξ'``. With ``u = up_down`` and
    ``c = 1 − |u|/2`` the two agree for every ξ, ξ' when ``Δw_min' = c·Δw_min``,
    ``up_down' = u/(2 − |u|)``, ``dw_min_dtod' = dw_min_dtod/c`` and
    ``up_down_dtod' = up_down_dtod/c``; for ``u = 0`` every value is unchanged. Valid for
    aihwkit's normal gain (``dw_min_dtod_log_normal = False``).

    Parameters
    ----------
    dw_min, up_down, dw_min_dtod, up_down_dtod : float
        aihwkit's values (``dw_min > 0``, ``|up_down| < 1``, spreads ≥ 0).

    Returns
    -------
    StepFields
        ``dw_min``, ``up_down``, ``dw_min_dtod``, ``up_down_dtod`` for a pulsetrain ``Device``.

    Raises
    ------
    ParameterError
        If ``up_down`` is not a finite float with ``|up_down| < 1``.

    Examples
    --------
    >>> from_aihwkit_steps(0.01, 0.5, 0.1, 0.0)["up_down"]
    0.3333333333333333
    """
    if not (isinstance(up_down, int | float) and math.isfinite(up_down) and abs(up_down) < 1.0):
        raise parameter_error("up_down", "from_aihwkit_steps", "a float in (-1, 1)", up_down)
    c = 1.0 - abs(up_down) / 2.0
    return {
        "dw_min": dw_min * c,
        "up_down": up_down / (2.0 - abs(up_down)),
        "dw_min_dtod": dw_min_dtod / c,
        "up_down_dtod": up_down_dtod / c,
    }


class ExpStepShape(TypedDict):
    """Keyword arguments of :func:`exp_step_table`: aihwkit's ExpStep shape and the grid."""

    a: float
    b: float
    gamma_up: float
    gamma_down: float
    a_up: float
    a_down: float
    n_intervals: int


_RERAM_ES: Final[ExpStepShape] = {
    "a": -0.5,
    "b": -0.5,
    "gamma_up": 5.0,
    "gamma_down": 5.0,
    "a_up": -1.18445,
    "a_down": -0.081404,
    "n_intervals": 40,
}
"""aihwkit 1.1.0 ``ReRamESPresetDevice``'s ExpStep shape on [−1, 1] and the table's grid."""


def rram_es_gong2018_piecewise() -> Device:
    """ReRAM, exponential step: aihwkit's ``ReRamESPresetDevice`` as a 41-node table.

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py`` (``ReRamESPresetDevice``), a fit of
    aihwkit's ``ExpStepDevice`` to the ReRAM of Gong et al., Nat. Commun. 9:2102 (2018), Fig. 1
    (doi:10.1038/s41467-018-04485-1). Values: bounds [−1, 1], a = b = −0.5, gamma_up =
    gamma_down = 5, A_up = −1.18445, A_down = −0.081404, dw_min 0.00135, up_down 0.259359,
    dw_min_dtod 0.2 (normal), up_down_dtod 0.05, w_max_dtod = w_min_dtod = 0.3, cycle-to-cycle
    noise dw_min_std 5.0, multiplicative (aihwkit's ExpStep kernel multiplies the mean step by
    ``1 + σξ``).

    The law (:func:`exp_step_table`) here is ``q₊ = 1 + 1.18445 e^{−2.5(w + 1)}`` and
    ``q₋ = 1 + 0.081404 e^{2.5(w + 1)}`` (from 1.008 to 2.184 and from 1.081 to 13.08), sampled
    at 41 equally spaced nodes (h = 0.05). **Interpolation error bound**
    (:func:`exp_step_table_error`, ``h²/8·max|q''|``): ``|Δq₊| ≤ 2.32e−3`` and
    ``|Δq₋| ≤ 0.0236`` (at most 0.11 % and 0.18 % of the values where the curvature peaks); the
    table is exact at the nodes and, both laws being convex, never below them in between.

    Semantics: aihwkit's kernel takes ``up_down`` off the down step only (up ``Δw_min·g``, down
    ``Δw_min·(g − 0.259359)``), where pulsetrain's :attr:`~pulsetrain.devices.Device.up_down`
    r gives ``Δw_min·(g ± r)``; :func:`from_aihwkit_steps` converts the four step values so
    that every element's steps are the same: dw_min 0.00135·(1 − 0.259359/2) ≈ 1.1749e−3,
    up_down 0.259359/1.740641 ≈ 0.14900, dw_min_dtod 0.2/0.8703 ≈ 0.2298, up_down_dtod
    0.05/0.8703 ≈ 0.05745. ``dw_min_std`` is in units of the element's step in both. The
    symmetric point, the root of ``q₊ = (1 − 0.259359)·q₋``, is about −0.2175.

    Differences: aihwkit computes ``z`` from the element's bound difference while pulsetrain
    stretches the node grid over the element's own bounds (the same only without bound
    spread); the write noise (``write_noise_std`` 75, in units of dw_min, on a hidden weight)
    is not modelled; with a bound spread of 0.3 pulsetrain reflects a bound that crosses 0
    (1 in 2300 elements), which aihwkit does not (no ``enforce_consistency``).

    Returns
    -------
    Device
        A 41-node :class:`~pulsetrain.devices.Piecewise` device (about 1702 states).
    """
    return Device(
        response=exp_step_table(-1.0, 1.0, **_RERAM_ES),
        dw_min_std=5.0,
        c2c_mode=C2CMode.MULTIPLICATIVE,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
        **from_aihwkit_steps(dw_min=0.00135, up_down=0.259359, dw_min_dtod=0.2, up_down_dtod=0.05),
    )


def rram_sb_gong2018() -> Device:
    """ReRAM, soft bounds: aihwkit's ``ReRamSBPresetDevice`` (exactly, noise and spreads).

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py`` (``ReRamSBPresetDevice``, a
    ``SoftBoundsReferenceDevice``), aihwkit's "loose fit" of ``SoftBoundsDevice`` to Gong et al.,
    Nat. Commun. 9:2102 (2018), Fig. 1, assuming the devices are calibrated to the symmetric
    point. Values: bounds [−0.75, 1.25] (aihwkit's soft-bounds law ``q₊ = 1 − w/b_max``,
    ``q₋ = 1 − w/b_min``, symmetric point 0), dw_min 0.002, up_down 0, dw_min_dtod 0.3 (normal),
    up_down_dtod 0.01, w_max_dtod 0.3/1.25 = 0.24 and w_min_dtod 0.3/0.75 = 0.4 (relative: an
    absolute spread 0.3 of each bound), additive cycle-to-cycle noise dw_min_std 3.75 (aihwkit's
    ``mult_noise = False``, in units of the element's step, as pulsetrain's ``ADDITIVE``); the
    reference device keeps aihwkit's defaults (reference_mean = reference_std = 0, symmetric
    point not subtracted).

    Not modelled: the write noise (``write_noise_std`` 56, in units of dw_min, on a hidden
    weight). pulsetrain reflects a bound that crosses 0 (|1 + σξ|, floored at 1e−3) where
    aihwkit (no ``enforce_consistency`` here) lets it cross: with w_min_dtod 0.4 that is
    ξ < −2.5, about 0.6 % of the elements.

    Returns
    -------
    Device
        A :class:`~pulsetrain.devices.SoftBounds` device (1000 states).
    """
    return Device(
        response=SoftBounds(w_max=1.25, w_min=-0.75),
        dw_min=0.002,
        dw_min_std=3.75,
        c2c_mode=C2CMode.ADDITIVE,
        dw_min_dtod=0.3,
        up_down_dtod=0.01,
        w_max_dtod=0.3 / 1.25,
        w_min_dtod=0.3 / 0.75,
    )


def rram_sb_gong2018_piecewise() -> Device:
    """ReRAM, soft bounds: aihwkit's ``ReRamSBPresetDevice`` as an exact 2-node table.

    Source and values: as :func:`rram_sb_gong2018` (aihwkit 1.1.0 ``simulator/presets/
    devices.py``, ``ReRamSBPresetDevice``; Gong et al., Nat. Commun. 2018, Fig. 1). Soft bounds
    are linear in ``w``, so the 2-node table ``piecewise_up = (1.6, 0)``,
    ``piecewise_down = (0, 8/3)`` on [−0.75, 1.25] (:func:`linear_step_table` with
    ``gamma_up = gamma_down = 1``) equals them everywhere at the nominal bounds: interpolation
    error 0 (up to rounding). Under bound spread the grid stretches with the element's bounds,
    so ``q₊(lo_e) = 1.6`` stays fixed where soft bounds give ``1 − lo_e/hi_e``. Write noise is
    not modelled (see :func:`rram_sb_gong2018`).

    Returns
    -------
    Device
        A 2-node :class:`~pulsetrain.devices.Piecewise` device with the aihwkit noise and spreads.
    """
    return dataclasses.replace(
        rram_sb_gong2018(), response=linear_step_table(-0.75, 1.25, 1.0, 1.0)
    )


def gokmen_vlasov2016() -> Device:
    """Constant-step device of Gokmen & Vlasov 2016: aihwkit's ``GokmenVlasovPresetDevice``.

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py`` (``GokmenVlasovPresetDevice``, a
    ``ConstantStepDevice``), "largely" the RPU specification of Gokmen & Vlasov, Front.
    Neurosci. 10:333 (2016), Table 1, scaled to [−1, 1]: dw_min 0.0016 (1200 states), dw_min_dtod
    0.3 (normal), cycle-to-cycle noise dw_min_std 0.3, up_down 0, up_down_dtod 0.01,
    w_max_dtod = w_min_dtod = 0.3. The response is pulsetrain's
    :class:`~pulsetrain.devices.Ideal` (``q± = 1``, hard bounds), which is aihwkit's constant
    step exactly; with ``q = 1`` additive and multiplicative noise coincide.

    Difference: pulsetrain reflects a bound whose scale ``1 + 0.3ξ`` is negative (ξ < −3.33,
    1 element in 2300), aihwkit lets it cross 0.

    Returns
    -------
    Device
        An :class:`~pulsetrain.devices.Ideal` device on [−1, 1] (1250 states by pulsetrain's count).
    """
    return Device(
        response=Ideal(w_min=-1.0, w_max=1.0),
        dw_min=0.0016,
        dw_min_std=0.3,
        dw_min_dtod=0.3,
        up_down_dtod=0.01,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
    )


def idealized_rasch2019() -> Device:
    """Idealized constant step: aihwkit's ``IdealizedPresetDevice`` (Rasch et al., 2019).

    Source: aihwkit 1.1.0 ``simulator/presets/devices.py`` (``IdealizedPresetDevice``, a
    ``ConstantStepDevice``): the Gokmen & Vlasov 2016 (Table 1) specification with the
    device-to-device imbalance set to 0 and about 8 times more states, as used by Rasch et al.,
    arXiv:1906.02698 (2019): dw_min 0.0002 (10000 states), dw_min_dtod 0.3, dw_min_std 0.3,
    up_down = up_down_dtod = 0, w_max_dtod = w_min_dtod = 0.3, on [−1, 1]. Exact as
    :class:`~pulsetrain.devices.Ideal` (see :func:`gokmen_vlasov2016` for the one difference).

    Returns
    -------
    Device
        An :class:`~pulsetrain.devices.Ideal` device on [−1, 1].
    """
    return Device(
        response=Ideal(w_min=-1.0, w_max=1.0),
        dw_min=0.0002,
        dw_min_std=0.3,
        dw_min_dtod=0.3,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
    )


_GONG_BIN = 98
"""Pulses the up trace spends in the middle (6th) of 10 equal conductance bins (see below)."""
_GONG_UP_COUNTS: Final = (10, 47, 146, 129, 151, 98, 123, 132, 128, 34)
_GONG_DOWN_COUNTS: Final = (97, 214, 227, 152, 102, 103, 44, 30, 22, 5)


def rram_gong2018_piecewise() -> Device:
    """Measured ReRAM pulse response as a 10-node table: aihwkit's example 21 data (Gong 2018).

    Source: aihwkit 1.1.0 ``examples/csv/gong_et_al.csv`` (1000 up and 1000 down pulses of one
    ReRAM device, Gong et al., Nat. Commun. 9:2102, 2018, Fig. 1; the paper aihwkit's
    ``ReRamESPresetDevice`` fits) and ``examples/21_fit_device_data.py`` (the fit to aihwkit's
    ``PiecewiseStepDevice``): the conductance range common to both traces, [−1.2778, 1.3556],
    is mapped onto [−1, 1] and cut into 10 equal bins; the mean step in bin k is the bin width
    (0.2) over the number of pulses the trace spends in it (up: 10, 47, 146, 129, 151, 98, 123,
    132, 128, 34; down: 97, 214, 227, 152, 102, 103, 44, 30, 22, 5), and the 10 values are put
    on 10 equally spaced nodes over [−1, 1], as aihwkit's example does.

    Here ``dw_min = 0.2/98 = 1/490`` (the up step of the middle bin, the larger of aihwkit's
    two centre values) and the node values are the steps over ``dw_min``: ``98/count``. So q±
    times dw_min is the measured step; aihwkit writes the same steps as nodes over each
    direction's centre value plus ``up_down = 0.2/98 − 0.2/103`` (an absolute offset in its
    example). G changes sign three times (a noisy measurement), so :meth:`symmetric_point` is the
    bisection root (KERNEL_SPEC §2).

    Not matched: the example's ``write_noise_std`` (a read-like noise estimate; the trace-to-
    trace scatter is ≈ 60 dw_min per pulse, mostly read noise, not modelled); no cycle-to-cycle
    noise or device-to-device spread (one device was measured).

    Returns
    -------
    Device
        A 10-node :class:`~pulsetrain.devices.Piecewise` device, ``dw_min = 1/490``.
    """
    return Device(
        response=Piecewise(
            w_min=-1.0,
            w_max=1.0,
            piecewise_up=tuple(_GONG_BIN / c for c in _GONG_UP_COUNTS),
            piecewise_down=tuple(_GONG_BIN / c for c in _GONG_DOWN_COUNTS),
        ),
        dw_min=0.2 / _GONG_BIN,
    )


@dataclass(frozen=True, slots=True)
class Preset:
    """A named preset: the function that builds it and a one-line source."""

    name: str
    """The name ``pulsetrain devices`` uses."""
    build: Callable[[], Device]
    """Returns the device (with the function's default arguments)."""
    source: str
    """Paper and table or figure the values come from."""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("ald", ald, "P2 §2.2, Table 2 (MNIST, tau 0.8)"),
        Preset("skew_linear", skew_linear, "P1 Fig. 2 (tau 3.5, c 0.3)"),
        Preset("power", power, "P1 Eq. 148, Table 1 (gamma 3, tau 0.1)"),
        Preset("exponential", exponential, "P1 Eq. 149, Table 8 (gamma 2, tau 0.7)"),
        Preset("power_step", power_step, "P2 App. C.2 (check values, theory C8)"),
        Preset("exp_step", exp_step, "P2 App. C.3 (check values, theory C8)"),
        Preset("softbounds_b1", softbounds_b1, "B1 Eq. 4-8 (40 states, every sigma 0.3)"),
        Preset("rram_hfo2", rram_hfo2, "aihwkit ReRamArrayHfO2 (P3 Tables 1-2); no write noise"),
        Preset("p4_few_state", p4_few_state, "P4 Tables 1-2 (4 states; n_states=10, 16 too)"),
        Preset(
            "rram_om_piecewise",
            rram_om_piecewise,
            "aihwkit ReRamArrayOM (Gong & Rasch IEDM 2022) as a 2-node table; no write noise",
        ),
        Preset(
            "rram_hfo2_piecewise",
            rram_hfo2_piecewise,
            "aihwkit ReRamArrayHfO2 (Gong & Rasch IEDM 2022) as a 2-node table; no write noise",
        ),
        Preset(
            "rram_gong2018_piecewise",
            rram_gong2018_piecewise,
            "aihwkit example 21 data (Gong et al. Nat. Commun. 2018), 10 measured nodes",
        ),
        Preset(
            "ecram_tang2018_piecewise",
            ecram_tang2018_piecewise,
            "aihwkit EcRam (Tang et al. IEDM 2018), linear step as an exact 2-node table",
        ),
        Preset(
            "ecram_kim2019_piecewise",
            ecram_kim2019_piecewise,
            "aihwkit EcRamMO (Kim et al. IEDM 2019), linear step as an exact 2-node table",
        ),
        Preset(
            "capacitor_li2018_piecewise",
            capacitor_li2018_piecewise,
            "aihwkit Capacitor (Li et al. VLSI 2018), linear step as a 2-node table; no leakage",
        ),
        Preset(
            "rram_es_gong2018_piecewise",
            rram_es_gong2018_piecewise,
            "aihwkit ReRamES (Gong et al. 2018), exp step on 41 nodes; no write noise",
        ),
        Preset(
            "rram_sb_gong2018",
            rram_sb_gong2018,
            "aihwkit ReRamSB (Gong et al. 2018), soft bounds; no write noise",
        ),
        Preset(
            "rram_sb_gong2018_piecewise",
            rram_sb_gong2018_piecewise,
            "aihwkit ReRamSB (Gong et al. 2018) as an exact 2-node table",
        ),
        Preset(
            "gokmen_vlasov2016",
            gokmen_vlasov2016,
            "aihwkit GokmenVlasov (Front. Neurosci. 2016, Table 1), constant step, dw_min 0.0016",
        ),
        Preset(
            "idealized_rasch2019",
            idealized_rasch2019,
            "aihwkit Idealized (Rasch et al. 2019), constant step, 10000 states",
        ),
    )
}
"""The presets by name, in the order ``pulsetrain devices`` lists them."""


def get(name: str) -> Device:
    """Return the preset device called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`.

    Returns
    -------
    Device
        The device.

    Raises
    ------
    ParameterError
        If there is no such preset.

    Examples
    --------
    >>> get("ald").response.tau
    0.8
    """
    preset = PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        allowed = "one of " + ", ".join(repr(k) for k in PRESETS)
        raise parameter_error("name", "presets.get", allowed, name)
    return preset.build()
