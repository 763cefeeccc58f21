//! Response families q±(w) of shared/theory.md §2.1, written in terms of an element's own
//! bounds so that device-to-device spread of the bounds changes the slopes consistently.

/// A response family with its shape parameters (the bounds live on each element).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Family {
    /// q± ≡ 1.
    Ideal,
    /// q+ = 1 − (w − sp)/(hi − sp), q− = 1 − (w − sp)/(lo − sp); ALD when symmetric.
    LinearStep {
        /// Symmetric-point parameter w◇.
        sp: f64,
    },
    /// q+ = (1 + c)(1 − w/hi), q− = (1 − c)(1 − w/lo) (P1 Fig. 2).
    SkewLinear {
        /// Skew c_lin, |c| < 1.
        c: f64,
    },
    /// q+ = α+(1 − w/hi), q− = α−(1 − w/lo) (B1 Eq. 4–8).
    SoftBounds {
        /// α+.
        alpha_up: f64,
        /// α−.
        alpha_down: f64,
    },
    /// q+ = (1 − w/hi)^γ+, q− = (1 − w/lo)^γ− (P1 Eq. 148).
    Power {
        /// γ+.
        gamma_up: f64,
        /// γ−.
        gamma_down: f64,
    },
    /// q± = (e^{γ(1 ∓ w/τ)} − 1)/(e^γ − 1) (P1 Eq. 149).
    Exponential {
        /// γ+.
        gamma_up: f64,
        /// γ−.
        gamma_down: f64,
    },
    /// q+ = ((hi − w)/Δ)^γ+, q− = ((w − lo)/Δ)^γ− (P2 C.2).
    PowerStep {
        /// γ+.
        gamma_up: f64,
        /// γ−.
        gamma_down: f64,
    },
    /// q+ = 1 − e^{−γ+(hi − w)/Δ}, q− = 1 − e^{−γ−(w − lo)/Δ} (P2 C.3).
    ExpStep {
        /// γ+.
        gamma_up: f64,
        /// γ−.
        gamma_down: f64,
    },
}

impl Family {
    /// The centre used when bounds are spread device to device (`sp` for linear step, else 0).
    pub fn centre(&self) -> f64 {
        match *self {
            Family::LinearStep { sp } => sp,
            _ => 0.0,
        }
    }

    /// True when the family has a symmetric point (every family but `Ideal`).
    pub fn has_symmetric_point(&self) -> bool {
        !matches!(self, Family::Ideal)
    }

    /// q+(w) for an element with bounds `lo < hi`. Never panics.
    #[inline(always)]
    pub fn q_plus(&self, w: f64, lo: f64, hi: f64) -> f64 {
        match *self {
            Family::Ideal => 1.0,
            Family::LinearStep { sp } => 1.0 - (w - sp) / (hi - sp),
            Family::SkewLinear { c } => (1.0 + c) * (1.0 - w / hi),
            Family::SoftBounds { alpha_up, .. } => alpha_up * (1.0 - w / hi),
            Family::Power { gamma_up, .. } => (1.0 - w / hi).max(0.0).powf(gamma_up),
            Family::Exponential { gamma_up, .. } => {
                ((gamma_up * (1.0 - w / hi)).exp() - 1.0) / (gamma_up.exp() - 1.0)
            }
            Family::PowerStep { gamma_up, .. } => ((hi - w) / (hi - lo)).max(0.0).powf(gamma_up),
            Family::ExpStep { gamma_up, .. } => 1.0 - (-gamma_up * (hi - w) / (hi - lo)).exp(),
        }
    }

    /// q−(w) for an element with bounds `lo < hi`. Never panics.
    #[inline(always)]
    pub fn q_minus(&self, w: f64, lo: f64, hi: f64) -> f64 {
        match *self {
            Family::Ideal => 1.0,
            Family::LinearStep { sp } => 1.0 - (w - sp) / (lo - sp),
            Family::SkewLinear { c } => (1.0 - c) * (1.0 - w / lo),
            Family::SoftBounds { alpha_down, .. } => alpha_down * (1.0 - w / lo),
            Family::Power { gamma_down, .. } => (1.0 - w / lo).max(0.0).powf(gamma_down),
            Family::Exponential { gamma_down, .. } => {
                ((gamma_down * (1.0 - w / lo)).exp() - 1.0) / (gamma_down.exp() - 1.0)
            }
            Family::PowerStep { gamma_down, .. } => {
                ((w - lo) / (hi - lo)).max(0.0).powf(gamma_down)
            }
            Family::ExpStep { gamma_down, .. } => 1.0 - (-gamma_down * (w - lo) / (hi - lo)).exp(),
        }
    }

    /// q+(w) when `up`, else q−(w), with the sign picked by selects rather than a branch (the
    /// direction of a pulse is random, so a branch on it mispredicts). Bit for bit equal to
    /// [`Family::q_plus`] / [`Family::q_minus`]. Never panics.
    #[inline(always)]
    pub fn q_dir(&self, w: f64, lo: f64, hi: f64, up: bool) -> f64 {
        match *self {
            Family::Ideal => 1.0,
            Family::LinearStep { sp } => {
                let b = [lo, hi][usize::from(up)];
                1.0 - (w - sp) / (b - sp)
            }
            Family::SkewLinear { c } => {
                let (a, b) = (
                    [1.0 - c, 1.0 + c][usize::from(up)],
                    [lo, hi][usize::from(up)],
                );
                a * (1.0 - w / b)
            }
            Family::SoftBounds {
                alpha_up,
                alpha_down,
            } => {
                let (a, b) = (
                    [alpha_down, alpha_up][usize::from(up)],
                    [lo, hi][usize::from(up)],
                );
                a * (1.0 - w / b)
            }
            Family::Power {
                gamma_up,
                gamma_down,
            } => {
                let (g, b) = (
                    [gamma_down, gamma_up][usize::from(up)],
                    [lo, hi][usize::from(up)],
                );
                (1.0 - w / b).max(0.0).powf(g)
            }
            Family::Exponential {
                gamma_up,
                gamma_down,
            } => {
                let (g, b) = (
                    [gamma_down, gamma_up][usize::from(up)],
                    [lo, hi][usize::from(up)],
                );
                ((g * (1.0 - w / b)).exp() - 1.0) / (g.exp() - 1.0)
            }
            Family::PowerStep {
                gamma_up,
                gamma_down,
            } => {
                let (g, num) = (
                    [gamma_down, gamma_up][usize::from(up)],
                    [w - lo, hi - w][usize::from(up)],
                );
                (num / (hi - lo)).max(0.0).powf(g)
            }
            Family::ExpStep {
                gamma_up,
                gamma_down,
            } => {
                let (g, num) = (
                    [gamma_down, gamma_up][usize::from(up)],
                    [w - lo, hi - w][usize::from(up)],
                );
                1.0 - (-g * num / (hi - lo)).exp()
            }
        }
    }

    /// The element's symmetric point: the root of `dn·q−(w) − up·q+(w)` on `[lo, hi]` by
    /// bisection (the function rises from negative at `lo` to positive at `hi` for every family
    /// with an SP). `NaN` for `Ideal`. Never panics.
    pub fn symmetric_point(&self, lo: f64, hi: f64, up: f64, dn: f64) -> f64 {
        if !self.has_symmetric_point() {
            return f64::NAN;
        }
        let (mut a, mut b) = (lo, hi);
        for _ in 0..100 {
            let m = 0.5 * (a + b);
            if m <= a || m >= b {
                break;
            }
            let h = dn * self.q_minus(m, lo, hi) - up * self.q_plus(m, lo, hi);
            if h > 0.0 {
                b = m;
            } else {
                a = m;
            }
        }
        0.5 * (a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_symmetric_points() {
        // C4: skew linear c = 0.3, τ = 1 → SP 0.3.
        let sp = Family::SkewLinear { c: 0.3 }.symmetric_point(-1.0, 1.0, 1.0, 1.0);
        assert!((sp - 0.3).abs() < 1e-12);
        // C8: power step γ+ = 1, γ− = 2 on [−1, 1] → √5 − 2.
        let f = Family::PowerStep {
            gamma_up: 1.0,
            gamma_down: 2.0,
        };
        assert!((f.symmetric_point(-1.0, 1.0, 1.0, 1.0) - (5f64.sqrt() - 2.0)).abs() < 1e-12);
        // C8: exp step γ+ = 2, γ− = 1 → 1/3.
        let f = Family::ExpStep {
            gamma_up: 2.0,
            gamma_down: 1.0,
        };
        assert!((f.symmetric_point(-1.0, 1.0, 1.0, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        assert!(Family::Ideal.symmetric_point(-1.0, 1.0, 1.0, 1.0).is_nan());
    }

    #[test]
    fn linear_step_c5() {
        // C5: τ_max = 1, τ_min = −0.5, w◇ = 0.1 → bounds 1.1 / −0.4; at w = 0.4, G = 0.45, F = 1.15.
        let f = Family::LinearStep { sp: 0.1 };
        let (qp, qm) = (f.q_plus(0.4, -0.4, 1.1), f.q_minus(0.4, -0.4, 1.1));
        assert!((0.5 * (qm - qp) - 0.45).abs() < 1e-12);
        assert!((0.5 * (qm + qp) - 1.15).abs() < 1e-12);
    }

    #[test]
    fn q_dir_is_q_plus_and_q_minus_bit_for_bit() {
        let fams = [
            Family::Ideal,
            Family::LinearStep { sp: 0.2 },
            Family::SkewLinear { c: 0.3 },
            Family::SoftBounds {
                alpha_up: 1.1,
                alpha_down: 0.9,
            },
            Family::Power {
                gamma_up: 0.5,
                gamma_down: 2.0,
            },
            Family::Exponential {
                gamma_up: 3.0,
                gamma_down: 1.5,
            },
            Family::PowerStep {
                gamma_up: 0.7,
                gamma_down: 1.3,
            },
            Family::ExpStep {
                gamma_up: 2.0,
                gamma_down: 4.0,
            },
        ];
        let (lo, hi) = (-0.83, 1.17);
        for f in fams {
            for k in 0..=200 {
                let w = lo + (hi - lo) * f64::from(k) / 200.0;
                assert_eq!(
                    f.q_dir(w, lo, hi, true).to_bits(),
                    f.q_plus(w, lo, hi).to_bits()
                );
                assert_eq!(
                    f.q_dir(w, lo, hi, false).to_bits(),
                    f.q_minus(w, lo, hi).to_bits()
                );
            }
        }
    }
}
