//! Crossbar periphery: forward (W x) and backward (Wᵀ d) passes through DACs and ADCs with
//! noise, bounds, noise management and bound management (shared/theory.md §2.5, aihwkit's
//! `IOParameters`). Each sample of each replica draws from its own stream
//! `(tick, replica, row = sample, tag)`, so passes are deterministic for any thread count.

use crate::error::CoreError;
use crate::rng::Stream;

/// How inputs are scaled before the DAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseManagement {
    /// No scaling (s = 1).
    None,
    /// s = max|x| (capped at `nm_thres` when that is > 0).
    AbsMax,
}

/// How saturated outputs are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoundManagement {
    /// Saturated outputs are clipped.
    None,
    /// Halve the input scale and repeat while any output saturates.
    Iterative,
}

/// The periphery of one pass direction (aihwkit `IOParameters`).
// Mirrors aihwkit's flat parameter set, whose switches are independent booleans.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IoSpec {
    /// Bypass everything: exact W x · `out_scale`.
    pub is_perfect: bool,
    /// Input clip bound.
    pub inp_bound: f64,
    /// DAC step, in units of the input range (0 = no quantisation); see [`IoSpec::step_in`].
    pub inp_res: f64,
    /// Stochastic rounding in the DAC.
    pub inp_sto_round: bool,
    /// Additive input noise std (after the DAC).
    pub inp_noise: f64,
    /// Output clip bound.
    pub out_bound: f64,
    /// ADC step, in units of the output range (0 = no quantisation).
    pub out_res: f64,
    /// Stochastic rounding in the ADC.
    pub out_sto_round: bool,
    /// Additive output noise std (before the ADC).
    pub out_noise: f64,
    /// Final output scale.
    pub out_scale: f64,
    /// Input scaling.
    pub noise_management: NoiseManagement,
    /// Cap on the abs-max scale (0 = none).
    pub nm_thres: f64,
    /// Saturation handling.
    pub bound_management: BoundManagement,
    /// Also treat outputs below −`out_bound` as saturated.
    pub bm_test_negative_bound: bool,
    /// Largest input down-scaling factor 2^r.
    pub max_bm_factor: f64,
    /// Bound-management resolution limit: stop once 2^r > `max_bm_res`/step_in.
    pub max_bm_res: f64,
}

/// aihwkit reads a resolution above 1 as a number of steps and one ≤ 0 as "off".
fn resolution(res: f64) -> f64 {
    if res <= 0.0 {
        0.0
    } else if res > 1.0 {
        1.0 / res
    } else {
        res
    }
}

impl IoSpec {
    /// The DAC step in input units: `res · 2 · inp_bound` (0 when off).
    pub fn step_in(&self) -> f64 {
        resolution(self.inp_res) * 2.0 * self.inp_bound
    }

    /// The ADC step in output units: `res · 2 · out_bound` (0 when off).
    pub fn step_out(&self) -> f64 {
        resolution(self.out_res) * 2.0 * self.out_bound
    }

    /// Checks every value.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] naming the first bad field. Never panics.
    pub fn validate(&self) -> Result<(), CoreError> {
        const O: &str = "IOParameters";
        let pos = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(CoreError::param(
                    name,
                    O,
                    "a float in the range (0, inf)",
                    v,
                ))
            }
        };
        let nonneg = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(CoreError::param(
                    name,
                    O,
                    "a float in the range [0, inf)",
                    v,
                ))
            }
        };
        let finite = |name: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(CoreError::param(name, O, "a finite float", v))
            }
        };
        pos("inp_bound", self.inp_bound)?;
        finite("inp_res", self.inp_res)?;
        nonneg("inp_noise", self.inp_noise)?;
        pos("out_bound", self.out_bound)?;
        finite("out_res", self.out_res)?;
        nonneg("out_noise", self.out_noise)?;
        finite("out_scale", self.out_scale)?;
        nonneg("nm_thres", self.nm_thres)?;
        pos("max_bm_factor", self.max_bm_factor)?;
        pos("max_bm_res", self.max_bm_res)?;
        Ok(())
    }
}

/// round-half-even(v / step) · step, or stochastic rounding with one uniform (shared/theory.md
/// §2.5 steps 3 and 5). `step == 0` leaves v unchanged.
#[inline]
fn quantise(v: f64, step: f64, stochastic: bool, s: &mut Stream) -> f64 {
    if step <= 0.0 {
        return v;
    }
    let q = v / step;
    let k = if stochastic {
        let fl = q.floor();
        fl + if s.uniform() < q - fl { 1.0 } else { 0.0 }
    } else {
        q.round_ties_even()
    };
    k * step
}

/// One analog pass of one sample: `out = IO(W u)` with W = `p − r` (physical state minus
/// reference, formed element by element, never stored) of shape (n_out, n_in) row-major when
/// `transpose` is false (forward: out_i = Σ_j w_ij u_j), or `out = IO(Wᵀ u)` when true
/// (backward: out_j = Σ_i w_ij u_i). Sums run in index order. `bm_allowed` is false for
/// backward passes (aihwkit forces bound management off there). Never panics.
pub fn pass(
    io: &IoSpec,
    p: &[f64],
    r: &[f64],
    n_out: usize,
    n_in: usize,
    transpose: bool,
    x: &[f64],
    out: &mut [f64],
    scratch: &mut [f64],
    bm_allowed: bool,
    s: &mut Stream,
) {
    let (rows, cols) = (n_out, n_in);
    // Result length and input length of this direction.
    let (len_y, len_x) = if transpose {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let mvm = |u: &[f64], y: &mut [f64]| {
        y.fill(0.0);
        if transpose {
            for ((prow, rrow), &ui) in p.chunks_exact(cols).zip(r.chunks_exact(cols)).zip(u) {
                for ((yj, pij), rij) in y.iter_mut().zip(prow).zip(rrow) {
                    *yj += (pij - rij) * ui;
                }
            }
        } else {
            for ((yi, prow), rrow) in y
                .iter_mut()
                .zip(p.chunks_exact(cols))
                .zip(r.chunks_exact(cols))
            {
                let mut acc = 0.0;
                for ((pij, rij), uj) in prow.iter().zip(rrow).zip(u) {
                    acc += (pij - rij) * uj;
                }
                *yi = acc;
            }
        }
    };
    let y = &mut out[..len_y];
    let u = &mut scratch[..len_x];
    if io.is_perfect {
        mvm(x, y);
        for v in y.iter_mut() {
            *v *= io.out_scale;
        }
        return;
    }
    let scale = match io.noise_management {
        NoiseManagement::None => 1.0,
        NoiseManagement::AbsMax => {
            let m = x.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            if io.nm_thres > 0.0 {
                m.min(io.nm_thres)
            } else {
                m
            }
        }
    };
    if scale == 0.0 {
        y.fill(0.0);
        return;
    }
    let (step_in, step_out) = (io.step_in(), io.step_out());
    let bm = bm_allowed && io.bound_management == BoundManagement::Iterative;
    let bm_res_limit = if step_in > 0.0 {
        io.max_bm_res / step_in
    } else {
        f64::INFINITY
    };
    let mut factor = 1.0f64;
    loop {
        // 2–3: scale, DAC, input clip, input noise.
        for (uj, &xj) in u.iter_mut().zip(x) {
            let v = quantise(xj / (scale * factor), step_in, io.inp_sto_round, s);
            *uj = v.clamp(-io.inp_bound, io.inp_bound);
        }
        if io.inp_noise > 0.0 {
            for uj in u.iter_mut() {
                *uj += io.inp_noise * s.normal();
            }
        }
        // 4: MVM on the visible weights.
        mvm(u, y);
        // 5: output noise, ADC, output clip; note saturation for bound management.
        let mut saturated = false;
        for yi in y.iter_mut() {
            let mut v = *yi;
            if io.out_noise > 0.0 {
                v += io.out_noise * s.normal();
            }
            v = quantise(v, step_out, io.out_sto_round, s);
            if v > io.out_bound || (io.bm_test_negative_bound && v < -io.out_bound) {
                saturated = true;
            }
            *yi = v.clamp(-io.out_bound, io.out_bound);
        }
        // 6: iterative bound management: halve the input scale while an output saturates.
        if !bm || !saturated || factor > io.max_bm_factor || factor > bm_res_limit {
            break;
        }
        factor *= 2.0;
    }
    // 7: undo the scaling.
    let k = scale * factor * io.out_scale;
    for v in y.iter_mut() {
        *v *= k;
    }
}
