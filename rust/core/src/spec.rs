//! Compiled tile configuration: device, update mode (docs/KERNEL_SPEC.md §1, §8). Validated
//! once, at tile construction. Each update mode's parameters are a named struct, so a kernel
//! takes exactly its own mode's parameters.

use crate::error::CoreError;
use crate::family::Family;

/// Cycle-to-cycle noise model (shared/theory.md §1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum C2cMode {
    /// Δw·(q + σ ξ).
    Additive,
    /// Δw·q·(1 + σ ξ).
    Multiplicative,
}

/// A device: family, nominal bounds, granularity, noise, variation and reference.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceSpec {
    /// Response family.
    pub family: Family,
    /// Nominal lower bound of the physical state.
    pub lo: f64,
    /// Nominal upper bound of the physical state.
    pub hi: f64,
    /// Granularity Δw_min.
    pub dw_min: f64,
    /// Cycle-to-cycle noise σ_c, in units of the element's step.
    pub dw_min_std: f64,
    /// Noise model.
    pub c2c: C2cMode,
    /// Device-to-device spread of the step gain.
    pub dw_min_dtod: f64,
    /// Log-normal instead of normal gain spread.
    pub dw_min_dtod_log_normal: bool,
    /// Mean up/down step imbalance r̄: an element's steps are `dw_min·(g ± r)` with
    /// `r = up_down + up_down_dtod·ξ` (aihwkit's `up_down`), in (−1, 1).
    pub up_down: f64,
    /// Device-to-device up/down step asymmetry spread.
    pub up_down_dtod: f64,
    /// Relative spread of the upper bound.
    pub w_max_dtod: f64,
    /// Relative spread of the lower bound.
    pub w_min_dtod: f64,
    /// Mean reference offset.
    pub reference_mean: f64,
    /// Spread of the reference offset.
    pub reference_std: f64,
    /// Add each element's own SP to its reference.
    pub subtract_symmetry_point: bool,
}

/// How a fractional pulse count becomes an integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// n = ceil(|Δw|/Δw_min).
    Ceil,
    /// floor + Bernoulli(fraction): unbiased.
    Stochastic,
}

/// Parameters of the expected (compact) update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedParams {
    /// Add ζ ~ N(0, |ΔW|Δw_min).
    pub noise: bool,
}

/// Parameters of the pulse-count update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PulseCountParams {
    /// Cap on pulses per element per call.
    pub max_bl: u32,
    /// Rounding rule.
    pub rounding: Rounding,
    /// Sample each element's train in one draw where that is exact (docs/KERNEL_SPEC.md §5).
    pub aggregate: bool,
}

/// Parameters of the stochastic pulse-coincidence update.
// Mirrors aihwkit's independent update-management switches.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StochasticParams {
    /// Desired bit length.
    pub desired_bl: u32,
    /// Update management.
    pub update_management: bool,
    /// Update BL management.
    pub update_bl_management: bool,
    /// Fixed BL when BL management is off.
    pub fixed_bl: bool,
    /// Scale of max|d| in the management.
    pub um_grad_scale: f64,
    /// Sample each element's train in one draw where that is exact (docs/KERNEL_SPEC.md §5).
    pub aggregate: bool,
    /// With `aggregate`: sample each element's trains of this many consecutive samples
    /// together (1: each train alone; KERNEL_SPEC §5, "Windows of samples").
    pub aggregate_samples: u32,
}

/// The three update modes of shared/theory.md §2.3.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpdateMode {
    /// Compact update W + ΔW⊙F − |ΔW|⊙G (+ζ).
    Expected(ExpectedParams),
    /// n = round(|Δw|/Δw_min) pulses in sequence.
    PulseCount(PulseCountParams),
    /// aihwkit-style stochastic pulse coincidences.
    StochasticPulse(StochasticParams),
}

/// The update-mode spec `kind` strings the core accepts, in [`UpdateMode`] variant order.
pub const UPDATE_KINDS: &[&str] = &["expected", "pulse_count", "stochastic_pulse"];

impl UpdateMode {
    /// The spec-dict `kind` of this mode (an entry of [`UPDATE_KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            UpdateMode::Expected(_) => "expected",
            UpdateMode::PulseCount(_) => "pulse_count",
            UpdateMode::StochasticPulse(_) => "stochastic_pulse",
        }
    }
}

/// Largest `desired_bl` of the stochastic mode.
pub const MAX_DESIRED_BL: u32 = 1024;
/// Largest window of the stochastic mode's windowed sampler (`aggregate_samples`).
pub const MAX_AGGREGATE_SAMPLES: u32 = 1024;
/// Largest `max_bl` of the pulse-count mode.
pub const MAX_MAX_BL: u32 = 1_000_000;

fn finite(name: &str, owner: &str, v: f64) -> Result<(), CoreError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(CoreError::param(name, owner, "a finite float", v))
    }
}

fn positive(name: &str, owner: &str, v: f64) -> Result<(), CoreError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(CoreError::param(
            name,
            owner,
            "a float in the range (0, inf)",
            v,
        ))
    }
}

fn non_negative(name: &str, owner: &str, v: f64) -> Result<(), CoreError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(CoreError::param(
            name,
            owner,
            "a float in the range [0, inf)",
            v,
        ))
    }
}

impl DeviceSpec {
    /// Checks every value.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] naming the first bad field. Never panics.
    pub fn validate(&self) -> Result<(), CoreError> {
        const O: &str = "Device";
        finite("lo", O, self.lo)?;
        finite("hi", O, self.hi)?;
        if self.lo >= self.hi {
            return Err(CoreError::param(
                "hi",
                O,
                format!("greater than lo = {}", self.lo),
                self.hi,
            ));
        }
        self.family.validate(self.lo, self.hi, O)?;
        positive("dw_min", O, self.dw_min)?;
        non_negative("dw_min_std", O, self.dw_min_std)?;
        non_negative("dw_min_dtod", O, self.dw_min_dtod)?;
        if !(self.up_down.is_finite() && self.up_down.abs() < 1.0) {
            return Err(CoreError::param(
                "up_down",
                O,
                "a float in the range (-1, 1)",
                self.up_down,
            ));
        }
        non_negative("up_down_dtod", O, self.up_down_dtod)?;
        non_negative("w_max_dtod", O, self.w_max_dtod)?;
        non_negative("w_min_dtod", O, self.w_min_dtod)?;
        finite("reference_mean", O, self.reference_mean)?;
        non_negative("reference_std", O, self.reference_std)?;
        if self.subtract_symmetry_point && !self.family.has_symmetric_point() {
            return Err(CoreError::param(
                "subtract_symmetry_point",
                O,
                "False for a family without a symmetric point (Ideal)",
                self.subtract_symmetry_point,
            ));
        }
        Ok(())
    }
}

impl UpdateMode {
    /// Checks every value.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] naming the bad field. Never panics.
    pub fn validate(&self) -> Result<(), CoreError> {
        match *self {
            UpdateMode::Expected(_) => Ok(()),
            UpdateMode::PulseCount(PulseCountParams { max_bl, .. }) => {
                if (1..=MAX_MAX_BL).contains(&max_bl) {
                    Ok(())
                } else {
                    Err(CoreError::param(
                        "max_bl",
                        "PulseCountUpdate",
                        format!("an int in the range [1, {MAX_MAX_BL}]"),
                        max_bl,
                    ))
                }
            }
            UpdateMode::StochasticPulse(StochasticParams {
                desired_bl,
                um_grad_scale,
                aggregate_samples,
                ..
            }) => {
                if !(1..=MAX_DESIRED_BL).contains(&desired_bl) {
                    return Err(CoreError::param(
                        "desired_bl",
                        "StochasticPulseUpdate",
                        format!("an int in the range [1, {MAX_DESIRED_BL}]"),
                        desired_bl,
                    ));
                }
                if !(1..=MAX_AGGREGATE_SAMPLES).contains(&aggregate_samples) {
                    return Err(CoreError::param(
                        "aggregate_samples",
                        "StochasticPulseUpdate",
                        format!("an int in the range [1, {MAX_AGGREGATE_SAMPLES}]"),
                        aggregate_samples,
                    ));
                }
                positive("um_grad_scale", "StochasticPulseUpdate", um_grad_scale)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named_once() {
        let modes = [
            UpdateMode::Expected(ExpectedParams { noise: false }),
            UpdateMode::PulseCount(PulseCountParams {
                max_bl: 1,
                rounding: Rounding::Ceil,
                aggregate: true,
            }),
            UpdateMode::StochasticPulse(StochasticParams {
                desired_bl: 1,
                update_management: false,
                update_bl_management: false,
                fixed_bl: false,
                um_grad_scale: 1.0,
                aggregate: true,
                aggregate_samples: 1,
            }),
        ];
        let kinds: Vec<&str> = modes.iter().map(UpdateMode::kind).collect();
        assert_eq!(kinds, UPDATE_KINDS);
    }
}
