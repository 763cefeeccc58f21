//! Response families q±(w) of shared/theory.md §2.1 (docs/KERNEL_SPEC.md §2), written in terms
//! of an element's own bounds so that device-to-device spread of the bounds changes the slopes
//! consistently: the enum, its spec-dict names and parameters ([`Family::from_parts`]), their
//! validation, and `specialise!`, which compiles a kernel once per family.

use std::sync::Mutex;

use crate::error::CoreError;

/// The spec-dict `family` strings the core accepts, in [`Family`] variant order.
pub const FAMILY_NAMES: &[&str] = &[
    "ideal",
    "linear_step",
    "skew_linear",
    "soft_bounds",
    "power",
    "exponential",
    "power_step",
    "exp_step",
    "piecewise",
];

/// Largest number of nodes of a piecewise table (per direction).
pub const PIECEWISE_MAX_NODES: usize = 4096;

/// The node values of a piecewise (lookup-table) response: `up[k]`, `down[k]` are q+ and q− at
/// node k of n + 1 equally spaced nodes over an element's own `[lo, hi]` (aihwkit's
/// `PiecewiseStepDevice`). Built only by [`Family::piecewise`], which checks it.
#[derive(Debug, PartialEq)]
pub struct PiecewiseTable {
    /// q+ at the nodes.
    pub up: Box<[f64]>,
    /// q− at the nodes (same length).
    pub down: Box<[f64]>,
}

impl PiecewiseTable {
    /// Linear interpolation of `v` at `w` on `[lo, hi]` (KERNEL_SPEC §2, `piecewise`); the end
    /// values outside. Never panics: `s >= 0` (`max` also maps NaN to 0) and `k <= n - 1`.
    #[inline(always)]
    fn interpolate(v: &[f64], w: f64, lo: f64, hi: f64) -> f64 {
        let nf = (v.len() - 1) as f64;
        let s = ((w - lo) / (hi - lo) * nf).max(0.0);
        let k = s.floor().min(nf - 1.0);
        let t = (s - k).min(1.0);
        let i = k as usize;
        (1.0 - t) * v[i] + t * v[i + 1]
    }
}

/// Every distinct table built in this process, so that [`Family`] stays `Copy` (it holds a
/// `&'static` to its table). A table is kept for the life of the process: memory grows with
/// the number of *distinct* tables compiled, not with the number of tiles.
static TABLES: Mutex<Vec<&'static PiecewiseTable>> = Mutex::new(Vec::new());

fn intern(up: &[f64], down: &[f64]) -> &'static PiecewiseTable {
    let mut tables = TABLES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let same = |t: &&&'static PiecewiseTable| {
        t.up.len() == up.len()
            && t.up.iter().zip(up).all(|(a, b)| a.to_bits() == b.to_bits())
            && t.down
                .iter()
                .zip(down)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    };
    if let Some(t) = tables.iter().find(same) {
        return t;
    }
    let t: &'static PiecewiseTable = Box::leak(Box::new(PiecewiseTable {
        up: up.into(),
        down: down.into(),
    }));
    tables.push(t);
    t
}

fn check_nodes(name: &str, owner: &str, v: &[f64]) -> Result<(), CoreError> {
    let ok = (2..=PIECEWISE_MAX_NODES).contains(&v.len())
        && v.iter().all(|x| x.is_finite() && *x >= 0.0)
        && v.iter().any(|x| *x > 0.0);
    if ok {
        Ok(())
    } else {
        Err(CoreError::param(
            name,
            owner,
            format!(
                "a list of 2 to {PIECEWISE_MAX_NODES} finite floats in the range [0, inf), \
                 at least one positive"
            ),
            v,
        ))
    }
}

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
    /// q± interpolated linearly on equally spaced nodes over `[lo, hi]` (aihwkit
    /// `PiecewiseStepDevice`; KERNEL_SPEC §2).
    Piecewise {
        /// The node values (interned, see [`Family::piecewise`]).
        table: &'static PiecewiseTable,
    },
}

/// Evaluates `$body` with `$f` bound to a copy of `$fam` built from its own fields, one match
/// arm per family, so that inlined code is compiled once per response with its constants folded.
macro_rules! specialise {
    ($fam:expr, $f:ident => $body:expr) => {
        match $fam {
            Family::Ideal => {
                let $f = Family::Ideal;
                $body
            }
            Family::LinearStep { sp } => {
                let $f = Family::LinearStep { sp };
                $body
            }
            Family::SkewLinear { c } => {
                let $f = Family::SkewLinear { c };
                $body
            }
            Family::SoftBounds {
                alpha_up,
                alpha_down,
            } => {
                let $f = Family::SoftBounds {
                    alpha_up,
                    alpha_down,
                };
                $body
            }
            Family::Power {
                gamma_up,
                gamma_down,
            } => {
                let $f = Family::Power {
                    gamma_up,
                    gamma_down,
                };
                $body
            }
            Family::Exponential {
                gamma_up,
                gamma_down,
            } => {
                let $f = Family::Exponential {
                    gamma_up,
                    gamma_down,
                };
                $body
            }
            Family::PowerStep {
                gamma_up,
                gamma_down,
            } => {
                let $f = Family::PowerStep {
                    gamma_up,
                    gamma_down,
                };
                $body
            }
            Family::ExpStep {
                gamma_up,
                gamma_down,
            } => {
                let $f = Family::ExpStep {
                    gamma_up,
                    gamma_down,
                };
                $body
            }
            Family::Piecewise { table } => {
                let $f = Family::Piecewise { table };
                $body
            }
        }
    };
}
pub(crate) use specialise;

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

impl Family {
    /// The family named `name` (one of [`FAMILY_NAMES`]) with its parameters from `param`,
    /// which is asked for `gamma_up` and `gamma_down` (always present in a spec dict), then for
    /// the keys the family uses: `sp` (linear_step), `c` (skew_linear), `alpha_up` and
    /// `alpha_down` (soft_bounds). Values are checked by [`Family::validate`], not here.
    ///
    /// # Errors
    /// Whatever `param` returns, or [`CoreError::InvalidParameter`] (converted into `E`) for an
    /// unknown name. Never panics.
    pub fn from_parts<E, P>(name: &str, param: P) -> Result<Family, E>
    where
        E: From<CoreError>,
        P: FnMut(&str) -> Result<f64, E>,
    {
        Family::from_parts_with_nodes(name, param, |key| {
            Err(
                CoreError::param(key, "Device spec", "present (a list of floats)", "missing")
                    .into(),
            )
        })
    }

    /// [`Family::from_parts`] that also reads the node lists of `piecewise` from `nodes`
    /// (`piecewise_up`, then `piecewise_down`), checked by [`Family::piecewise`].
    ///
    /// # Errors
    /// Whatever `param` or `nodes` returns, or [`CoreError::InvalidParameter`] (converted into
    /// `E`) for an unknown name or bad nodes. Never panics.
    pub fn from_parts_with_nodes<E, P, N>(
        name: &str,
        mut param: P,
        mut nodes: N,
    ) -> Result<Family, E>
    where
        E: From<CoreError>,
        P: FnMut(&str) -> Result<f64, E>,
        N: FnMut(&str) -> Result<Vec<f64>, E>,
    {
        let (gamma_up, gamma_down) = (param("gamma_up")?, param("gamma_down")?);
        Ok(match name {
            "ideal" => Family::Ideal,
            "linear_step" => Family::LinearStep { sp: param("sp")? },
            "skew_linear" => Family::SkewLinear { c: param("c")? },
            "soft_bounds" => Family::SoftBounds {
                alpha_up: param("alpha_up")?,
                alpha_down: param("alpha_down")?,
            },
            "power" => Family::Power {
                gamma_up,
                gamma_down,
            },
            "exponential" => Family::Exponential {
                gamma_up,
                gamma_down,
            },
            "power_step" => Family::PowerStep {
                gamma_up,
                gamma_down,
            },
            "exp_step" => Family::ExpStep {
                gamma_up,
                gamma_down,
            },
            "piecewise" => {
                let up = nodes("piecewise_up")?;
                let down = nodes("piecewise_down")?;
                Family::piecewise(&up, &down)?
            }
            other => {
                let names: Vec<String> = FAMILY_NAMES.iter().map(|n| format!("'{n}'")).collect();
                return Err(CoreError::param(
                    "family",
                    "Device spec",
                    format!("one of {}", names.join(", ")),
                    other,
                )
                .into());
            }
        })
    }

    /// The piecewise family with node values `up` (q+) and `down` (q−), interned so that equal
    /// tables share one allocation for the life of the process.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] naming `piecewise_up` or `piecewise_down` unless each
    /// has 2 to [`PIECEWISE_MAX_NODES`] finite values `>= 0`, one of them `> 0`, and both have
    /// the same length. Never panics.
    pub fn piecewise(up: &[f64], down: &[f64]) -> Result<Family, CoreError> {
        check_nodes("piecewise_up", "Device", up)?;
        check_nodes("piecewise_down", "Device", down)?;
        if down.len() != up.len() {
            return Err(CoreError::param(
                "piecewise_down",
                "Device",
                format!("of the same length as piecewise_up ({})", up.len()),
                down.len(),
            ));
        }
        Ok(Family::Piecewise {
            table: intern(up, down),
        })
    }

    /// The spec-dict name of this family (an entry of [`FAMILY_NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Family::Ideal => "ideal",
            Family::LinearStep { .. } => "linear_step",
            Family::SkewLinear { .. } => "skew_linear",
            Family::SoftBounds { .. } => "soft_bounds",
            Family::Power { .. } => "power",
            Family::Exponential { .. } => "exponential",
            Family::PowerStep { .. } => "power_step",
            Family::ExpStep { .. } => "exp_step",
            Family::Piecewise { .. } => "piecewise",
        }
    }

    /// Checks the family's parameters against the nominal bounds `lo < hi` (owner `owner`).
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] naming the first bad parameter. Never panics.
    pub fn validate(&self, lo: f64, hi: f64, owner: &str) -> Result<(), CoreError> {
        let o = owner;
        match *self {
            Family::Ideal => {}
            Family::LinearStep { sp } => {
                if !sp.is_finite() {
                    return Err(CoreError::param("sp", o, "a finite float", sp));
                }
                if !(lo < sp && sp < hi) {
                    return Err(CoreError::param(
                        "sp",
                        o,
                        format!("inside the bounds ({lo}, {hi})"),
                        sp,
                    ));
                }
            }
            Family::SkewLinear { c } => {
                if !(c.is_finite() && c.abs() < 1.0) {
                    return Err(CoreError::param("c", o, "a float in the range (-1, 1)", c));
                }
                if !(lo < 0.0 && hi > 0.0) {
                    return Err(CoreError::param("lo", o, "below 0 < hi", lo));
                }
            }
            Family::SoftBounds {
                alpha_up,
                alpha_down,
            } => {
                positive("alpha_up", o, alpha_up)?;
                positive("alpha_down", o, alpha_down)?;
                if !(lo < 0.0 && hi > 0.0) {
                    return Err(CoreError::param("lo", o, "below 0 < hi", lo));
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
                positive("gamma_up", o, gamma_up)?;
                positive("gamma_down", o, gamma_down)?;
                if !(lo < 0.0 && hi > 0.0) {
                    return Err(CoreError::param("lo", o, "below 0 < hi", lo));
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
                positive("gamma_up", o, gamma_up)?;
                positive("gamma_down", o, gamma_down)?;
            }
            Family::Piecewise { table } => {
                check_nodes("piecewise_up", o, &table.up)?;
                check_nodes("piecewise_down", o, &table.down)?;
            }
        }
        Ok(())
    }

    /// The centre used when bounds are spread device to device (`sp` for linear step, else 0).
    pub fn centre(&self) -> f64 {
        match *self {
            Family::LinearStep { sp } => sp,
            // Listed one by one (no `_ =>`), so a new family must decide its centre here.
            Family::Ideal
            | Family::SkewLinear { .. }
            | Family::SoftBounds { .. }
            | Family::Power { .. }
            | Family::Exponential { .. }
            | Family::PowerStep { .. }
            | Family::ExpStep { .. }
            // The node grid spans each element's own bounds; they spread about 0, as aihwkit's.
            | Family::Piecewise { .. } => 0.0,
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
            Family::Piecewise { table } => PiecewiseTable::interpolate(&table.up, w, lo, hi),
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
            Family::Piecewise { table } => PiecewiseTable::interpolate(&table.down, w, lo, hi),
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
            Family::Piecewise { table } => {
                let v: &[f64] = [&table.down, &table.up][usize::from(up)];
                PiecewiseTable::interpolate(v, w, lo, hi)
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

    /// [`Family::symmetric_point`] of `L` elements at once, bit for bit: each lane runs the
    /// scalar bisection's IEEE operations in the same order (midpoint `0.5·(a + b)`, the stop
    /// test, `h` from [`Family::q_minus`] and [`Family::q_plus`], the sign test) and leaves its
    /// ends as they are once its own stop test fires; the loop runs while a lane moves, 100
    /// steps at most. A stopped lane needs no flag: its ends do not change, so the next step
    /// computes the same midpoint and stops again. Selects rather than branches, so that the
    /// lanes vectorise (the sign of `h` is a coin toss that a branch mispredicts). Not for
    /// `Ideal` (its lanes would give the bisection's midpoint, not NaN). Never panics.
    // `&` and `|` on the lanes' flags: no short-circuit branches in the vector loop.
    #[allow(clippy::needless_bitwise_bool)]
    #[inline(always)]
    pub(crate) fn symmetric_points_lanes<const L: usize>(
        &self,
        lo: &[f64; L],
        hi: &[f64; L],
        up: &[f64; L],
        dn: &[f64; L],
    ) -> [f64; L] {
        let (mut a, mut b) = (*lo, *hi);
        for _ in 0..100 {
            let mut any = false;
            for k in 0..L {
                let (ak, bk) = (a[k], b[k]);
                let m = 0.5 * (ak + bk);
                let go = !((m <= ak) | (m >= bk));
                let h =
                    dn[k] * self.q_minus(m, lo[k], hi[k]) - up[k] * self.q_plus(m, lo[k], hi[k]);
                let pos = h > 0.0;
                b[k] = if go & pos { m } else { bk };
                a[k] = if go & !pos { m } else { ak };
                any |= go;
            }
            if !any {
                break;
            }
        }
        let mut out = [0.0; L];
        for k in 0..L {
            out[k] = 0.5 * (a[k] + b[k]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_and_every_variant_has_a_name() {
        for name in FAMILY_NAMES {
            let f = Family::from_parts_with_nodes::<CoreError, _, _>(
                name,
                |_| Ok(0.5),
                |_| Ok(vec![0.5, 1.0]),
            )
            .unwrap();
            assert_eq!(f.name(), *name);
        }
        assert!(Family::from_parts::<CoreError, _>("piecewise", |_| Ok(0.5)).is_err());
        assert!(Family::from_parts::<CoreError, _>("nope", |_| Ok(0.5)).is_err());
    }

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
            Family::piecewise(&[1.6, 1.3, 0.9, 0.6, 0.1], &[0.2, 0.7, 1.0, 1.2, 1.5]).unwrap(),
        ];
        let (lo, hi) = (-0.83, 1.17);
        for f in fams {
            for k in -20..=220 {
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

#[cfg(test)]
mod piecewise_tests {
    use super::*;

    #[test]
    fn nodes_between_and_outside() {
        let f = Family::piecewise(&[1.5, 1.0, 0.5], &[0.5, 1.0, 2.0]).unwrap();
        // Nodes at −1, 0, 1.
        assert_eq!(f.q_plus(-1.0, -1.0, 1.0), 1.5);
        assert_eq!(f.q_plus(0.0, -1.0, 1.0), 1.0);
        assert_eq!(f.q_plus(1.0, -1.0, 1.0), 0.5);
        assert_eq!(f.q_minus(0.5, -1.0, 1.0), 1.5);
        assert_eq!(f.q_plus(-0.5, -1.0, 1.0), 1.25);
        // Constant beyond the ends, and NaN maps to the first node (Rust's max).
        assert_eq!(f.q_plus(-7.0, -1.0, 1.0), 1.5);
        assert_eq!(f.q_minus(9.0, -1.0, 1.0), 2.0);
        assert_eq!(f.q_plus(f64::INFINITY, -1.0, 1.0), 0.5);
        assert_eq!(f.q_plus(f64::NAN, -1.0, 1.0), 1.5);
        // The grid stretches with the element's bounds: node 1 of [−2, 4] is at 1.
        assert_eq!(f.q_plus(1.0, -2.0, 4.0), 1.0);
        // SP of h = (−1, 0, 1.5): 0 (bisection to an ulp).
        assert!(f.symmetric_point(-1.0, 1.0, 1.0, 1.0).abs() < 1e-15);
    }

    #[test]
    fn validation_names_the_field_and_tables_are_shared() {
        let bad = [
            (vec![1.0], vec![1.0, 1.0], "piecewise_up"),
            (vec![1.0, f64::NAN], vec![1.0, 1.0], "piecewise_up"),
            (vec![1.0, 1.0], vec![0.0, 0.0], "piecewise_down"),
            (vec![1.0, 1.0], vec![-1.0, 1.0], "piecewise_down"),
            (vec![1.0, 1.0], vec![1.0, 1.0, 1.0], "piecewise_down"),
            (
                vec![1.0; PIECEWISE_MAX_NODES + 1],
                vec![1.0; 2],
                "piecewise_up",
            ),
        ];
        for (up, down, name) in bad {
            match Family::piecewise(&up, &down) {
                Err(CoreError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{other:?}"),
            }
        }
        let (a, b) = (
            Family::piecewise(&[0.25, 1.0], &[1.0, 0.5]).unwrap(),
            Family::piecewise(&[0.25, 1.0], &[1.0, 0.5]).unwrap(),
        );
        match (a, b) {
            (Family::Piecewise { table: ta }, Family::Piecewise { table: tb }) => {
                assert!(std::ptr::eq(ta, tb));
            }
            _ => unreachable!(),
        }
        assert!(a.validate(-1.0, 1.0, "Device").is_ok());
    }
}
