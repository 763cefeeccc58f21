//! Compiled tile configuration: device, update mode. Validated once, at tile construction.

use crate::error::CoreError;
use crate::response::Family;

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

/// The three update modes of shared/theory.md §2.3.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpdateMode {
    /// Compact update W + ΔW⊙F − |ΔW|⊙G (+ζ).
    Expected {
        /// Add ζ ~ N(0, |ΔW|Δw_min).
        noise: bool,
    },
    /// n = round(|Δw|/Δw_min) pulses in sequence.
    PulseCount {
        /// Cap on pulses per element per call.
        max_bl: u32,
        /// Rounding rule.
        rounding: Rounding,
    },
    /// aihwkit-style stochastic pulse coincidences.
    StochasticPulse {
        /// Desired bit length.
        desired_bl: u32,
        /// Update management.
        update_management: bool,
        /// Update BL management.
        update_bl_management: bool,
        /// Fixed BL when BL management is off.
        fixed_bl: bool,
        /// Scale of max|d| in the management.
        um_grad_scale: f64,
    },
}

/// Largest `desired_bl` of the stochastic mode.
pub const MAX_DESIRED_BL: u32 = 1024;
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
        match self.family {
            Family::Ideal => {}
            Family::LinearStep { sp } => {
                finite("sp", O, sp)?;
                if !(self.lo < sp && sp < self.hi) {
                    return Err(CoreError::param(
                        "sp",
                        O,
                        format!("inside the bounds ({}, {})", self.lo, self.hi),
                        sp,
                    ));
                }
            }
            Family::SkewLinear { c } => {
                if !(c.is_finite() && c.abs() < 1.0) {
                    return Err(CoreError::param("c", O, "a float in the range (-1, 1)", c));
                }
                if !(self.lo < 0.0 && self.hi > 0.0) {
                    return Err(CoreError::param("lo", O, "below 0 < hi", self.lo));
                }
            }
            Family::SoftBounds {
                alpha_up,
                alpha_down,
            } => {
                positive("alpha_up", O, alpha_up)?;
                positive("alpha_down", O, alpha_down)?;
                if !(self.lo < 0.0 && self.hi > 0.0) {
                    return Err(CoreError::param("lo", O, "below 0 < hi", self.lo));
                }
            }
            Family::Power {
                gamma_up,
                gamma_down,
            }
            | Family::Exponential {
                gamma_up,
                gamma_down,
            } => {
                positive("gamma_up", O, gamma_up)?;
                positive("gamma_down", O, gamma_down)?;
                if !(self.lo < 0.0 && self.hi > 0.0) {
                    return Err(CoreError::param("lo", O, "below 0 < hi", self.lo));
                }
            }
            Family::PowerStep {
                gamma_up,
                gamma_down,
            }
            | Family::ExpStep {
                gamma_up,
                gamma_down,
            } => {
                positive("gamma_up", O, gamma_up)?;
                positive("gamma_down", O, gamma_down)?;
            }
        }
        positive("dw_min", O, self.dw_min)?;
        non_negative("dw_min_std", O, self.dw_min_std)?;
        non_negative("dw_min_dtod", O, self.dw_min_dtod)?;
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
            UpdateMode::Expected { .. } => Ok(()),
            UpdateMode::PulseCount { max_bl, .. } => {
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
            UpdateMode::StochasticPulse {
                desired_bl,
                um_grad_scale,
                ..
            } => {
                if !(1..=MAX_DESIRED_BL).contains(&desired_bl) {
                    return Err(CoreError::param(
                        "desired_bl",
                        "StochasticPulseUpdate",
                        format!("an int in the range [1, {MAX_DESIRED_BL}]"),
                        desired_bl,
                    ));
                }
                positive("um_grad_scale", "StochasticPulseUpdate", um_grad_scale)
            }
        }
    }
}
