//! Crossbar periphery: forward (W x) and backward (Wᵀ d) passes through DACs and ADCs with
//! noise, bounds, noise management and bound management (shared/theory.md §2.5, aihwkit's
//! `IOParameters`). Each sample of each replica draws from its own stream
//! `(tick, replica, row = sample, tag)`, so passes are deterministic for any thread count.

use multiversion::multiversion;
use ndarray::{Array3, ArrayView3};

use crate::error::CoreError;
use crate::par::{for_each_row, row, Par};
use crate::rng::{tag, Stream};
use crate::simd::dispatched;
use crate::tile::Tile;

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
        round_half_even(q)
    };
    k * step
}

/// `q.round_ties_even()` (IEEE roundToIntegralTiesToEven) without the libm call the baseline
/// target makes for it: for |q| < 2⁵² the sum |q| + 2⁵² lies where doubles are the integers,
/// so the round-to-nearest-even addition rounds |q| exactly as rint does and the subtraction
/// is exact; the sign is put back (−0.3 → −0.0, as rint). Larger |q| (and NaN) are returned
/// unchanged, being integers already.
#[inline(always)]
fn round_half_even(q: f64) -> f64 {
    const TWO52: f64 = 4_503_599_627_370_496.0;
    let a = q.abs();
    if a < TWO52 {
        ((a + TWO52) - TWO52).copysign(q)
    } else {
        q
    }
}

/// The input stage of one analog pass (shared/theory.md §2.5 steps 2–3): scale by
/// `scale·factor`, DAC, clip, input noise, drawing from the sample's stream in element order.
pub fn input_stage(io: &IoSpec, x: &[f64], scale: f64, factor: f64, u: &mut [f64], s: &mut Stream) {
    let step_in = io.step_in();
    for (uj, &xj) in u.iter_mut().zip(x) {
        let v = quantise(xj / (scale * factor), step_in, io.inp_sto_round, s);
        *uj = v.clamp(-io.inp_bound, io.inp_bound);
    }
    if io.inp_noise > 0.0 {
        for uj in u.iter_mut() {
            *uj += io.inp_noise * s.normal();
        }
    }
}

/// The output stage (step 5): output noise, ADC, clip; returns whether an output saturated.
pub fn output_stage(io: &IoSpec, y: &mut [f64], s: &mut Stream) -> bool {
    let step_out = io.step_out();
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
    saturated
}

/// [`input_stage`] with its draws in bulk: the same values and the same draws in the same
/// order. Without stochastic DAC rounding the quantise-and-clip loop draws nothing and runs in
/// vectors ([`quantise_clip`]); the input noise comes from [`Stream::fill_normals`] (the
/// normals [`Stream::normal`] would give one by one) into `noise`, then is added in a loop.
fn input_stage_bulk(
    io: &IoSpec,
    x: &[f64],
    scale: f64,
    factor: f64,
    u: &mut [f64],
    s: &mut Stream,
    noise: &mut Vec<f64>,
) {
    let step_in = io.step_in();
    if io.inp_sto_round && step_in > 0.0 {
        input_stage(io, x, scale, factor, u, s);
        return;
    }
    quantise_clip(x, scale * factor, step_in, io.inp_bound, u);
    if io.inp_noise > 0.0 {
        noise.resize(u.len(), 0.0);
        let nz = noise.get_mut(..u.len()).unwrap_or(&mut []);
        s.fill_normals(nz);
        add_scaled(u, io.inp_noise, nz);
    }
}

/// [`output_stage`] with its draws in bulk (see [`input_stage_bulk`]): without stochastic ADC
/// rounding the only draws are the output noise, one normal per output in order, drawn by
/// [`Stream::fill_normals`]; the rest runs in vectors ([`noise_quantise_clip`]). Same values,
/// same draws, same saturation flag.
fn output_stage_bulk(io: &IoSpec, y: &mut [f64], s: &mut Stream, noise: &mut Vec<f64>) -> bool {
    let step_out = io.step_out();
    if io.out_sto_round && step_out > 0.0 {
        return output_stage(io, y, s);
    }
    let nz: &[f64] = if io.out_noise > 0.0 {
        noise.resize(y.len(), 0.0);
        let nz = noise.get_mut(..y.len()).unwrap_or(&mut []);
        s.fill_normals(nz);
        nz
    } else {
        &[]
    };
    noise_quantise_clip(
        y,
        nz,
        io.out_noise,
        step_out,
        io.out_bound,
        io.bm_test_negative_bound,
    )
}

dispatched! {
    /// `u_j = clamp(q(x_j / div), ±bound)` with q the deterministic DAC rounding of
    /// [`quantise`] (round-half-even to `step`; none when `step` is 0), element by element: the
    /// operations of [`input_stage`]'s first loop. Never panics.
    fn quantise_clip / quantise_clip_scalar /
        [quantise_clip_avx512, quantise_clip_avx2, quantise_clip_popcnt]
        (x: &[f64], div: f64, step: f64, bound: f64, u: &mut [f64])
    {
        if step > 0.0 {
            for (uj, &xj) in u.iter_mut().zip(x) {
                let v = round_half_even((xj / div) / step) * step;
                *uj = v.clamp(-bound, bound);
            }
        } else {
            for (uj, &xj) in u.iter_mut().zip(x) {
                *uj = (xj / div).clamp(-bound, bound);
            }
        }
    }
}

dispatched! {
    /// `u_j += scale · noise_j`, element by element. Never panics.
    fn add_scaled / add_scaled_scalar / [add_scaled_avx512, add_scaled_avx2, add_scaled_popcnt]
        (u: &mut [f64], scale: f64, noise: &[f64])
    {
        for (uj, &n) in u.iter_mut().zip(noise) {
            *uj += scale * n;
        }
    }
}

dispatched! {
    /// The deterministic part of [`output_stage`] on every output: add `out_noise·noise_i`
    /// (when `noise` is not empty), round half-even to `step` (when > 0), note saturation
    /// (above `bound`, or below −`bound` with `negative`), clip to ±`bound`; in the
    /// operations and order of output_stage. Returns whether an output saturated. Never panics.
    fn noise_quantise_clip / noise_quantise_clip_scalar /
        [noise_quantise_clip_avx512, noise_quantise_clip_avx2, noise_quantise_clip_popcnt]
        (
            y: &mut [f64],
            noise: &[f64],
            out_noise: f64,
            step: f64,
            bound: f64,
            negative: bool,
        ) -> bool
    {
        let finish = |v: f64| {
            let v = if step > 0.0 {
                round_half_even(v / step) * step
            } else {
                v
            };
            let sat = v > bound || (negative && v < -bound);
            (v.clamp(-bound, bound), sat)
        };
        let mut saturated = false;
        if noise.is_empty() {
            for yi in y.iter_mut() {
                let (v, sat) = finish(*yi);
                *yi = v;
                saturated |= sat;
            }
        } else {
            for (yi, &n) in y.iter_mut().zip(noise) {
                let (v, sat) = finish(*yi + out_noise * n);
                *yi = v;
                saturated |= sat;
            }
        }
        saturated
    }
}

/// The noise-management scale of one input (step 1): 1, or max|x| capped at `nm_thres`.
pub fn nm_scale(io: &IoSpec, x: &[f64]) -> f64 {
    match io.noise_management {
        NoiseManagement::None => 1.0,
        NoiseManagement::AbsMax => {
            let m = x.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            if io.nm_thres > 0.0 {
                m.min(io.nm_thres)
            } else {
                m
            }
        }
    }
}

/// True when iterative bound management must repeat a pass done at `factor` (step 6).
pub fn repeat_pass(io: &IoSpec, bm_allowed: bool, saturated: bool, factor: f64) -> bool {
    let step_in = io.step_in();
    let limit = if step_in > 0.0 {
        io.max_bm_res / step_in
    } else {
        f64::INFINITY
    };
    bm_allowed
        && io.bound_management == BoundManagement::Iterative
        && saturated
        && factor <= io.max_bm_factor
        && factor <= limit
}

/// `y = W u` (or `Wᵀ u` when `transpose`) for one sample, W = p − r formed element by element
/// (never stored); sums run in index order from 0.0. `r` is the whole reference (unlike
/// [`mvm_batch`], which takes an empty one as zero).
pub fn mvm_one(p: &[f64], r: &[f64], cols: usize, transpose: bool, u: &[f64], y: &mut [f64]) {
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
}

/// `W_r u` (or `W_rᵀ u` when `transpose`) for every sample u of every replica r, exactly:
/// `w` holds R matrices of `rows × cols` (row-major), `u` R·B inputs of `len_x` (`cols`, or
/// `rows` when `transpose`), and the result R·B outputs of `len_y`. Each output is summed in
/// index order from 0.0 without FMA by the kernels of [`mvm_batch`] (`Tile`'s perfect-IO pass
/// without its tick, streams or output scale), or, for small matrices (inputs and outputs of
/// at most 64 values), by `small_products`, which adds the same terms in the same order
/// without transposing the inputs and outputs; so it is the same bits on every dispatch
/// target and for any thread count, and the NumPy twin's `exact_products` replays it. Inputs
/// of the wrong lengths give zeros. Never panics.
pub fn exact_products(
    w: &[f64],
    u: &[f64],
    (r, rows, cols, b): (usize, usize, usize, usize),
    transpose: bool,
    par: Par<'_>,
) -> Vec<f64> {
    let (len_x, len_y) = if transpose {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let mut out = vec![0.0; r * b * len_y];
    let sizes_ok = w.len() == r * rows * cols && u.len() == r * b * len_x;
    if len_y == 0 || b == 0 || !sizes_ok {
        return out;
    }
    if let Some(width) = small_width(len_x, len_y, b, transpose) {
        small_products(w, u, (r, rows, cols, b), transpose, width, par, &mut out);
        return out;
    }
    let chunk = b.min(PASS_CHUNK);
    // A chunk's transposed inputs and outputs, allocated once per task.
    let buffers = || (vec![0.0; len_x * chunk], vec![0.0; len_y * chunk]);
    // One replica's products, chunk by chunk; `inner` spreads a chunk's rows over the pool.
    let one = |(ut, yt): &mut (Vec<f64>, Vec<f64>), rep: usize, orep: &mut [f64], inner: bool| {
        let wr = row(w, rep, rows * cols);
        for (c, ochunk) in orep.chunks_mut(chunk * len_y).enumerate() {
            let nb = ochunk.len() / len_y;
            for k0 in (0..nb).step_by(TRANSPOSE_BLOCK) {
                let at = (rep * b + c * chunk + k0) * len_x;
                let cnt = TRANSPOSE_BLOCK.min(nb - k0);
                put_columns(
                    ut,
                    k0,
                    nb,
                    u.get(at..at + cnt * len_x).unwrap_or(&[]),
                    len_x,
                );
            }
            let yt = yt.get_mut(..len_y * nb).unwrap_or(&mut []);
            let ut = ut.get(..len_x * nb).unwrap_or(&[]);
            mvm_batch(wr, &[], rows, cols, transpose, nb, ut, yt, inner);
            take_rows(yt, ochunk, len_y);
        }
    };
    par.run(r * b * rows * cols, |par| {
        use rayon::prelude::*;
        // Replicas in parallel when there are several (each output is still one task's).
        if par && r > 1 {
            out.par_chunks_mut(b * len_y)
                .enumerate()
                .for_each_init(buffers, |buf, (rep, orep)| one(buf, rep, orep, false));
        } else {
            let mut buf = buffers();
            for (rep, orep) in out.chunks_mut(b * len_y).enumerate() {
                one(&mut buf, rep, orep, par);
            }
        }
    });
    out
}

/// The rows of `src` named by `rows`, replica by replica: `src` holds R blocks of `n` rows of
/// `width` values, `rows` R·B row numbers (B per replica, each below `n`), and the result is
/// R·B rows of `width`, row k of replica r being row `rows[r·B + k]` of block r. Least
/// squares' minibatch (its inputs A and targets b) is gathered this way, the same values as
/// NumPy's `take` of those rows.
///
/// # Errors
/// `InvalidParameter` naming `rows` for a row number outside `[0, n)`, `Shape` for `src` or
/// `rows` of the wrong length. Never panics.
pub fn gather_rows(
    src: &[f64],
    rows: &[i64],
    (r, n, width, b): (usize, usize, usize, usize),
    owner: &str,
) -> Result<Vec<f64>, CoreError> {
    if rows.len() != r * b {
        return Err(CoreError::shape("rows", owner, &[r, b], &[rows.len()]));
    }
    if src.len() != r * n * width {
        return Err(CoreError::shape("src", owner, &[r, n, width], &[src.len()]));
    }
    let mut out = Vec::with_capacity(r * b * width);
    for (rep, picks) in rows.chunks(b.max(1)).enumerate() {
        for &k in picks {
            let at = usize::try_from(k)
                .ok()
                .filter(|&k| k < n)
                .map(|k| (rep * n + k) * width);
            let Some(part) = at.and_then(|at| src.get(at..at + width)) else {
                return Err(CoreError::param(
                    "rows",
                    owner,
                    format!("row numbers in the range [0, {n})"),
                    k,
                ));
            };
            out.extend_from_slice(part);
        }
    }
    Ok(out)
}

/// The mean-gradient residuals of a least-squares minibatch: `(W_r x − t) / B` for every
/// sample x of every replica r (`w` R matrices of `rows × cols`, `x` R·B inputs of `cols`, `t`
/// R·B targets of `rows`), with `W_r x` from [`exact_products`] and then, per value, one IEEE
/// subtraction and one division by B: the bits of NumPy's `(exact_products(w, x) - t) / B`,
/// which the twin computes. Inputs of the wrong lengths give zeros. Never panics.
pub fn mean_residuals(
    w: &[f64],
    x: &[f64],
    t: &[f64],
    (r, rows, cols, b): (usize, usize, usize, usize),
    par: Par<'_>,
) -> Vec<f64> {
    if t.len() != r * b * rows {
        return vec![0.0; r * b * rows];
    }
    let mut d = exact_products(w, x, (r, rows, cols, b), false, par);
    let bf = b as f64;
    for (v, &tv) in d.iter_mut().zip(t) {
        *v = (*v - tv) / bf;
    }
    d
}

/// Longest input of the small path of [`exact_products`] (its per-replica matrix, padded, is
/// `len_x × width` values, built once per replica).
const SMALL_LEN_X: usize = 64;
/// Widest output of the small path of [`exact_products`].
const SMALL_WIDTH: usize = 64;

/// Forward passes of fewer samples than this take the small path only when W has at most
/// [`SMALL_FEW_ELEMS`] elements: transposing a larger W for so few samples costs more than it
/// saves (64×64, batch 1: 2.44 → 2.76 µs per call; batch 16 and 48×48 at batch 1 break even).
const SMALL_FEW: usize = 16;
/// See [`SMALL_FEW`].
const SMALL_FEW_ELEMS: usize = 2048;

/// The padded output width of [`exact_products`]' small path for `b` samples of `len_x`
/// inputs and `len_y` outputs (`transpose`: W is not transposed), or `None` when the shape
/// takes the transposing path instead.
fn small_width(len_x: usize, len_y: usize, b: usize, transpose: bool) -> Option<usize> {
    let costly = !transpose && b < SMALL_FEW && len_x * len_y > SMALL_FEW_ELEMS;
    match len_y {
        _ if len_x == 0 || len_x > SMALL_LEN_X || costly => None,
        1..=4 => Some(4),
        5..=SMALL_WIDTH => Some(len_y.div_ceil(8) * 8),
        _ => None,
    }
}

/// [`exact_products`] for small outputs (`width` from [`small_width`]): per replica, the
/// matrix M whose rows are the inputs' coefficients (Wᵀ, or W when `transpose`) is laid out
/// as `len_x` rows of `width` (zero-padded), and [`small_block`] sums each sample's outputs
/// across the vector lanes, i ascending from 0.0: the same terms in the same order as
/// [`mvm_one`], without transposing inputs or outputs. Tasks own whole replicas (one replica:
/// runs of [`PASS_CHUNK`] samples), so the bits do not depend on the thread count.
fn small_products(
    w: &[f64],
    u: &[f64],
    (r, rows, cols, b): (usize, usize, usize, usize),
    transpose: bool,
    width: usize,
    par: Par<'_>,
    out: &mut [f64],
) {
    let (len_x, len_y) = if transpose {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let per = if r > 1 { b } else { b.min(PASS_CHUNK) };
    let buffer = || {
        vec![
            0.0;
            if transpose && cols == width {
                0
            } else {
                len_x * width
            }
        ]
    };
    // Samples k0.. of replica `rep` (as many as `o` holds) with M in `m`.
    let task = |buf: &mut Vec<f64>, (t, o): (usize, &mut [f64])| {
        let (rep, k0) = if r > 1 { (t, 0) } else { (0, t * per) };
        let wr = row(w, rep, rows * cols);
        let m: &[f64] = if transpose && cols == width {
            // M = W, already rows of `width`.
            wr
        } else if transpose {
            // M = W, each row padded (the pad lanes stay 0.0).
            for (mi, wi) in buf.chunks_exact_mut(width).zip(wr.chunks_exact(cols)) {
                if let Some(d) = mi.get_mut(..cols) {
                    d.copy_from_slice(wi);
                }
            }
            buf
        } else {
            // M = Wᵀ: M[j][o] = W[o][j].
            for (o, wo) in wr.chunks_exact(cols).enumerate() {
                for (mj, &v) in buf.chunks_exact_mut(width).zip(wo) {
                    if let Some(d) = mj.get_mut(o) {
                        *d = v;
                    }
                }
            }
            buf
        };
        let nb = o.len() / len_y;
        let at = (rep * b + k0) * len_x;
        let us = u.get(at..at + nb * len_x).unwrap_or(&[]);
        small_block(m, width, len_x, len_y, us, o);
    };
    par.run(r * b * rows * cols, |par| {
        use rayon::prelude::*;
        if par {
            out.par_chunks_mut(per * len_y)
                .enumerate()
                .for_each_init(buffer, task);
        } else {
            let mut m = buffer();
            out.chunks_mut(per * len_y)
                .enumerate()
                .for_each(|t| task(&mut m, t));
        }
    });
}

dispatched! {
    /// The small path's sums: `y[k·len_y + o] = Σ_i m[i·width + o]·u[k·len_x + i]`, i
    /// ascending from 0.0 (the order of [`mvm_one`]), for the samples of `u` (rows of
    /// `len_x`) into `y` (rows of `len_y`); `m` is `len_x` rows of `width` (4 or a multiple
    /// of 8 up to [`SMALL_WIDTH`]; other widths leave `y` alone). Separate IEEE multiplies
    /// and adds (never an FMA), so every target gives the same bits. Never panics.
    fn small_block / small_block_scalar /
        [small_block_avx512, small_block_avx2, small_block_popcnt]
        (m: &[f64], width: usize, len_x: usize, len_y: usize, u: &[f64], y: &mut [f64])
    {
        match width {
            4 => small_rows::<4>(m, len_x, len_y, u, y),
            8 => small_rows::<8>(m, len_x, len_y, u, y),
            16 => small_rows::<16>(m, len_x, len_y, u, y),
            24 => small_rows::<24>(m, len_x, len_y, u, y),
            32 => small_rows::<32>(m, len_x, len_y, u, y),
            40 => small_rows::<40>(m, len_x, len_y, u, y),
            48 => small_rows::<48>(m, len_x, len_y, u, y),
            56 => small_rows::<56>(m, len_x, len_y, u, y),
            64 => small_rows::<64>(m, len_x, len_y, u, y),
            _ => {}
        }
    }
}

/// [`small_block`] for width `W`, two samples at a time: their 2·`W` sums stay in registers
/// over M's rows, i ascending from 0.0 (one sample at a time, the loop waited on its single
/// chain of adds: 5×20 matrices, batch 10, 2× slower); an odd last sample goes alone.
#[inline(always)]
fn small_rows<const W: usize>(m: &[f64], len_x: usize, len_y: usize, u: &[f64], y: &mut [f64]) {
    let lx = len_x.max(1);
    let mut at = 0;
    let mut pairs = u.chunks_exact(2 * lx);
    for us in &mut pairs {
        let (u0, u1) = us.split_at(lx);
        let mut acc0 = [0.0f64; W];
        let mut acc1 = [0.0f64; W];
        for ((mi, &x0), &x1) in m.chunks_exact(W).zip(u0).zip(u1) {
            let Ok(mi) = <&[f64; W]>::try_from(mi) else {
                continue;
            };
            for ((a0, a1), &w) in acc0.iter_mut().zip(acc1.iter_mut()).zip(mi) {
                *a0 += w * x0;
                *a1 += w * x1;
            }
        }
        small_store(y, at, len_y, &acc0);
        small_store(y, at + len_y, len_y, &acc1);
        at += 2 * len_y;
    }
    for us in pairs.remainder().chunks_exact(lx) {
        let mut acc = [0.0f64; W];
        for (mi, &x) in m.chunks_exact(W).zip(us) {
            let Ok(mi) = <&[f64; W]>::try_from(mi) else {
                continue;
            };
            for (a, &w) in acc.iter_mut().zip(mi) {
                *a += w * x;
            }
        }
        small_store(y, at, len_y, &acc);
    }
}

/// Stores one sample's sums `acc` (its outputs, then padding) at `y[at..]`: all `W` lanes
/// while they fit in `y`, the padding landing on the next samples' outputs, which are stored
/// after it (a copy of `len_y` values per sample had cost a `memcpy` call); else the first
/// `len_y` lanes one by one.
#[inline(always)]
fn small_store<const W: usize>(y: &mut [f64], at: usize, len_y: usize, acc: &[f64; W]) {
    if let Some(dst) = y
        .get_mut(at..at + W)
        .and_then(|d| <&mut [f64; W]>::try_from(d).ok())
    {
        *dst = *acc;
    } else if let Some(dst) = y.get_mut(at..) {
        for (d, &v) in dst.iter_mut().zip(acc).take(len_y) {
            *d = v;
        }
    }
}

/// Samples whose inputs [`put_columns`] transposes together (and [`take_rows`] reads back
/// together): eight columns of `ut` are one cache line per row, written whole instead of one
/// value per line (LeNet-5's convolutions, hundreds of patches per chunk, had spent 7% of a
/// training step writing their inputs one value at a time).
const TRANSPOSE_BLOCK: usize = 8;

/// Writes the rows of `src` (`len_x` values each, the inputs of samples `k0..`) as columns
/// `k0..` of the chunk buffer `ut` (`nb` samples per row, the layout [`mvm_batch`] reads).
fn put_columns(ut: &mut [f64], k0: usize, nb: usize, src: &[f64], len_x: usize) {
    let cnt = src.len() / len_x.max(1);
    let ut = ut.get_mut(..len_x * nb).unwrap_or(&mut []);
    if cnt == TRANSPOSE_BLOCK && nb > 0 {
        for (j, urow) in ut.chunks_exact_mut(nb).enumerate() {
            let Some(dst) = urow
                .get_mut(k0..k0 + TRANSPOSE_BLOCK)
                .and_then(|d| <&mut [f64; TRANSPOSE_BLOCK]>::try_from(d).ok())
            else {
                continue;
            };
            for (kk, d) in dst.iter_mut().enumerate() {
                *d = src.get(kk * len_x + j).copied().unwrap_or(0.0);
            }
        }
        return;
    }
    for (kk, x) in src.chunks_exact(len_x.max(1)).enumerate() {
        for (dst, v) in ut.iter_mut().skip(k0 + kk).step_by(nb.max(1)).zip(x) {
            *dst = *v;
        }
    }
}

/// Reads [`mvm_batch`]'s outputs `yt` (`len_y` rows of `nb` samples) back into `out` as `nb`
/// rows of `len_y`, one per sample.
fn take_rows(yt: &[f64], out: &mut [f64], len_y: usize) {
    let nb = out.len() / len_y.max(1);
    let whole = nb / TRANSPOSE_BLOCK * TRANSPOSE_BLOCK;
    let (head, tail) = out.split_at_mut((whole * len_y).min(out.len()));
    for (blk, rows) in head
        .chunks_exact_mut(TRANSPOSE_BLOCK * len_y.max(1))
        .enumerate()
    {
        let k0 = blk * TRANSPOSE_BLOCK;
        for (v, ys) in yt.chunks_exact(nb.max(1)).take(len_y).enumerate() {
            let Some(src) = ys
                .get(k0..k0 + TRANSPOSE_BLOCK)
                .and_then(|s| <&[f64; TRANSPOSE_BLOCK]>::try_from(s).ok())
            else {
                continue;
            };
            for (kk, &y) in src.iter().enumerate() {
                if let Some(d) = rows.get_mut(kk * len_y + v) {
                    *d = y;
                }
            }
        }
    }
    for (k, y) in tail.chunks_mut(len_y.max(1)).enumerate() {
        let skip = whole + k;
        for (v, src) in y.iter_mut().zip(yt.iter().skip(skip).step_by(nb.max(1))) {
            *v = *src;
        }
    }
}

/// Samples one pass call takes through the periphery at a time (see `Tile::passes`).
const PASS_CHUNK: usize = 256;
/// Rows of W one forward task owns; their sums are interleaved in registers. (Eight rows
/// measured no faster on a 784×256 layer, batch 10, and 1.5–2× slower on LeNet-5's
/// convolutions, batches of hundreds of patches: the sums no longer stayed in registers.)
const FWD_ROWS: usize = 4;
/// Columns of W formed (p − r) at a time into a stack block by the forward kernel.
const FWD_COLS: usize = 64;
/// Output columns one backward task owns when vectorised across columns: one block of sums per
/// sample.
const BWD_COLS: usize = 16;
/// From this batch size on the backward kernel vectorises across samples instead.
const BWD_WIDE: usize = 16;

/// The same products for B samples at once, `ut` holding the inputs transposed (len_x × B) and
/// `yt` receiving the outputs transposed (len_y × B). Each output still sums in index order
/// from 0.0, so the result equals B calls of [`mvm_one`] bit for bit, on every dispatch target
/// and for any thread count; W is read once per block of samples instead of once per sample.
/// Register-blocked kernels with runtime SIMD dispatch ([`forward_rows`], [`backward_cols`]):
/// forward vectorises across samples (blocks of 4 rows × up to 16 samples of sums), backward
/// across output columns (blocks of 16 columns × up to 4 samples). Parallel over blocks of
/// output rows (forward) or columns (backward); each output is computed by one task. An empty
/// `r` is a zero reference: W is p itself (x − (+0.0) is x exactly), and r is not read.
pub fn mvm_batch(
    p: &[f64],
    r: &[f64],
    rows: usize,
    cols: usize,
    transpose: bool,
    b: usize,
    ut: &[f64],
    yt: &mut [f64],
    parallel: bool,
) {
    let kernels = Kernels {
        forward_rows,
        backward_cols,
        backward_samples,
    };
    mvm_batch_with(&kernels, p, r, rows, cols, transpose, b, ut, yt, parallel);
}

/// A block of forward rows: `(p, r, cols, ut, b, yblk)`.
type ForwardFn = fn(&[f64], &[f64], usize, &[f64], usize, &mut [f64]);
/// A block of backward columns: `(p, r, rows, cols, j0, ut, b, yblk)`.
type BackwardFn = fn(&[f64], &[f64], usize, usize, usize, &[f64], usize, &mut [f64]);

/// The block kernels [`mvm_batch`] runs: the dispatched ones, or (tests) one target's copies.
#[derive(Clone, Copy)]
struct Kernels {
    forward_rows: ForwardFn,
    backward_cols: BackwardFn,
    backward_samples: BackwardFn,
}

/// [`mvm_batch`] with the given block kernels.
fn mvm_batch_with(
    kernels: &Kernels,
    p: &[f64],
    r: &[f64],
    rows: usize,
    cols: usize,
    transpose: bool,
    b: usize,
    ut: &[f64],
    yt: &mut [f64],
    parallel: bool,
) {
    use rayon::prelude::*;
    let Kernels {
        forward_rows,
        backward_cols,
        backward_samples,
    } = *kernels;
    if b == 0 {
        return;
    }
    if transpose {
        // yt[j][·] = Σ_i w_ij ut[i][·], i ascending; tasks own blocks of BWD_COLS columns.
        // Few samples: vectorised across columns (blocks of BWD_COLS); many: across samples,
        // as the forward kernel (blocks of FWD_ROWS columns). Same sums in the same order.
        let wide = b >= BWD_WIDE;
        let width = if wide { FWD_ROWS } else { BWD_COLS };
        let f = |(blk, ychunk): (usize, &mut [f64])| {
            if wide {
                backward_samples(p, r, rows, cols, blk * width, ut, b, ychunk);
            } else {
                backward_cols(p, r, rows, cols, blk * width, ut, b, ychunk);
            }
        };
        if parallel {
            yt.par_chunks_mut(width * b).enumerate().for_each(f);
        } else {
            yt.chunks_mut(width * b).enumerate().for_each(f);
        }
    } else {
        // yt[i][·] = Σ_j w_ij ut[j][·], j ascending; tasks own blocks of FWD_ROWS rows.
        let f = |(blk, ychunk): (usize, &mut [f64])| {
            let base = blk * FWD_ROWS * cols;
            let n = ychunk.len() / b * cols;
            let (pb, rb) = (
                p.get(base..base + n).unwrap_or(&[]),
                r.get(base..base + n).unwrap_or(&[]),
            );
            forward_rows(pb, rb, cols, ut, b, ychunk);
        };
        if parallel {
            yt.par_chunks_mut(FWD_ROWS * b)
                .enumerate()
                .with_min_len(2)
                .for_each(f);
        } else {
            yt.chunks_mut(FWD_ROWS * b).enumerate().for_each(f);
        }
    }
}

dispatched! {
    /// Forward outputs of a block of at most [`FWD_ROWS`] rows for every sample:
    /// `yblk[k·b + s] = Σ_j (p[k·cols + j] − r[k·cols + j])·ut[j·b + s]`, j ascending from 0.0
    /// (the order of [`mvm_one`]), with `p`, `r` the block's rows (nr·cols values) and
    /// `yblk` nr·b values. Separate IEEE multiplies and adds (never an FMA), so every target
    /// gives the same bits. Never panics.
    fn forward_rows / forward_rows_scalar /
        [forward_rows_avx512, forward_rows_avx2, forward_rows_popcnt]
        (p: &[f64], r: &[f64], cols: usize, ut: &[f64], b: usize, yblk: &mut [f64])
    {
        match yblk.len().checked_div(b).unwrap_or(0) {
            4 => forward_block::<4>(p, r, cols, ut, b, yblk),
            3 => forward_block::<3>(p, r, cols, ut, b, yblk),
            2 => forward_block::<2>(p, r, cols, ut, b, yblk),
            1 => forward_block::<1>(p, r, cols, ut, b, yblk),
            _ => {}
        }
    }
}

dispatched! {
    /// Backward outputs of the columns `j0..j0 + nj` (nj = `yblk.len() / b` ≤ [`BWD_COLS`]) for
    /// every sample: `yblk[dj·b + s] = Σ_i (p[i·cols + j0 + dj] − r[…])·ut[i·b + s]`, i
    /// ascending from 0.0 (the order of [`mvm_one`]). Separate IEEE multiplies and adds (never
    /// an FMA), so every target gives the same bits. Never panics.
    fn backward_cols / backward_cols_scalar /
        [backward_cols_avx512, backward_cols_avx2, backward_cols_popcnt]
        (
            p: &[f64],
            r: &[f64],
            rows: usize,
            cols: usize,
            j0: usize,
            ut: &[f64],
            b: usize,
            yblk: &mut [f64],
        )
    {
        let nj = yblk.len().checked_div(b).unwrap_or(0);
        let mut s0 = 0;
        while s0 < b {
            let left = b - s0;
            s0 += match (nj == BWD_COLS, left) {
                (true, 4..) => backward_tile::<4, true>(p, r, rows, cols, j0, nj, ut, b, s0, yblk),
                (true, 2..) => backward_tile::<2, true>(p, r, rows, cols, j0, nj, ut, b, s0, yblk),
                (true, _) => backward_tile::<1, true>(p, r, rows, cols, j0, nj, ut, b, s0, yblk),
                (false, 4..) => {
                    backward_tile::<4, false>(p, r, rows, cols, j0, nj, ut, b, s0, yblk)
                }
                (false, 2..) => {
                    backward_tile::<2, false>(p, r, rows, cols, j0, nj, ut, b, s0, yblk)
                }
                (false, _) => backward_tile::<1, false>(p, r, rows, cols, j0, nj, ut, b, s0, yblk),
            };
        }
    }
}

dispatched! {
    /// Backward outputs of the columns `j0..j0 + nc` (nc = `yblk.len() / b` ≤ [`FWD_ROWS`]) for
    /// every sample, vectorised across samples (for large batches): `yblk[k·b + s] =
    /// Σ_i (p[i·cols + j0 + k] − r[…])·ut[i·b + s]`, i ascending from 0.0 (the order of
    /// [`mvm_one`]); the forward kernel's tiles on blocks of Wᵀ. Separate IEEE multiplies and
    /// adds (never an FMA), so every target gives the same bits. Never panics.
    fn backward_samples / backward_samples_scalar /
        [backward_samples_avx512, backward_samples_avx2, backward_samples_popcnt]
        (
            p: &[f64],
            r: &[f64],
            rows: usize,
            cols: usize,
            j0: usize,
            ut: &[f64],
            b: usize,
            yblk: &mut [f64],
        )
    {
        match yblk.len().checked_div(b).unwrap_or(0) {
            4 => backward_block::<4>(p, r, rows, cols, j0, ut, b, yblk),
            3 => backward_block::<3>(p, r, rows, cols, j0, ut, b, yblk),
            2 => backward_block::<2>(p, r, rows, cols, j0, ut, b, yblk),
            1 => backward_block::<1>(p, r, rows, cols, j0, ut, b, yblk),
            _ => {}
        }
    }
}

/// Columns `j0..j0 + R` of a backward pass, vectorised across samples: Wᵀ is formed
/// `FWD_COLS` rows at a time into a stack block and each block's terms are added to every
/// sample's sums (kept in `yblk` between blocks, from 0.0) by [`forward_tile`], so every output
/// still adds its terms i ascending.
#[inline(always)]
fn backward_block<const R: usize>(
    p: &[f64],
    r: &[f64],
    rows: usize,
    cols: usize,
    j0: usize,
    ut: &[f64],
    b: usize,
    yblk: &mut [f64],
) {
    yblk.fill(0.0);
    let mut wblk = [[0.0f64; FWD_COLS]; R];
    let mut i0 = 0;
    while i0 < rows {
        let ni = (rows - i0).min(FWD_COLS);
        for di in 0..ni {
            let at = (i0 + di) * cols + j0;
            let Some(pk) = p.get(at..at + R) else {
                continue;
            };
            if r.is_empty() {
                for (wk, &a) in wblk.iter_mut().zip(pk) {
                    wk[di % FWD_COLS] = a;
                }
            } else if let Some(rk) = r.get(at..at + R) {
                for ((wk, a), c) in wblk.iter_mut().zip(pk).zip(rk) {
                    wk[di % FWD_COLS] = a - c;
                }
            }
        }
        let us = ut.get(i0 * b..(i0 + ni) * b).unwrap_or(&[]);
        let mut s0 = 0;
        while s0 < b {
            s0 += match b - s0 {
                16.. => forward_tile::<R, 16>(&wblk, ni, us, b, s0, yblk),
                8.. => forward_tile::<R, 8>(&wblk, ni, us, b, s0, yblk),
                4.. => forward_tile::<R, 4>(&wblk, ni, us, b, s0, yblk),
                2.. => forward_tile::<R, 2>(&wblk, ni, us, b, s0, yblk),
                _ => forward_tile::<R, 1>(&wblk, ni, us, b, s0, yblk),
            };
        }
        i0 += ni;
    }
}

/// A forward block of `R` rows: W is formed `FWD_COLS` columns at a time into a stack block,
/// and each block's terms are added to every sample's sums (kept in `yblk` between blocks,
/// from 0.0), so every output still adds its terms j ascending. Samples go in tiles of 16,
/// and fewer than 16 left form one tile of their own width: a batch of 10 as tiles of 8 and
/// 2 ran the block's columns twice, the second time with R two-lane sums, whose add latency
/// the core then waited on (784×256, batch 10: 127 → 101 µs, the same bits).
#[inline(always)]
fn forward_block<const R: usize>(
    p: &[f64],
    r: &[f64],
    cols: usize,
    ut: &[f64],
    b: usize,
    yblk: &mut [f64],
) {
    yblk.fill(0.0);
    let mut wblk = [[0.0f64; FWD_COLS]; R];
    let mut j0 = 0;
    while j0 < cols {
        let nj = (cols - j0).min(FWD_COLS);
        for (k, wk) in wblk.iter_mut().enumerate() {
            let at = k * cols + j0;
            let Some(pk) = p.get(at..at + nj) else {
                continue;
            };
            if r.is_empty() {
                for (x, &a) in wk.iter_mut().zip(pk) {
                    *x = a;
                }
            } else if let Some(rk) = r.get(at..at + nj) {
                for ((x, a), c) in wk.iter_mut().zip(pk).zip(rk) {
                    *x = a - c;
                }
            }
        }
        let us = ut.get(j0 * b..(j0 + nj) * b).unwrap_or(&[]);
        let mut s0 = 0;
        while s0 < b {
            s0 += match b - s0 {
                16.. => forward_tile::<R, 16>(&wblk, nj, us, b, s0, yblk),
                15 => forward_tile::<R, 15>(&wblk, nj, us, b, s0, yblk),
                14 => forward_tile::<R, 14>(&wblk, nj, us, b, s0, yblk),
                13 => forward_tile::<R, 13>(&wblk, nj, us, b, s0, yblk),
                12 => forward_tile::<R, 12>(&wblk, nj, us, b, s0, yblk),
                11 => forward_tile::<R, 11>(&wblk, nj, us, b, s0, yblk),
                10 => forward_tile::<R, 10>(&wblk, nj, us, b, s0, yblk),
                9 => forward_tile::<R, 9>(&wblk, nj, us, b, s0, yblk),
                8 => forward_tile::<R, 8>(&wblk, nj, us, b, s0, yblk),
                7 => forward_tile::<R, 7>(&wblk, nj, us, b, s0, yblk),
                6 => forward_tile::<R, 6>(&wblk, nj, us, b, s0, yblk),
                5 => forward_tile::<R, 5>(&wblk, nj, us, b, s0, yblk),
                4 => forward_tile::<R, 4>(&wblk, nj, us, b, s0, yblk),
                3 => forward_tile::<R, 3>(&wblk, nj, us, b, s0, yblk),
                2 => forward_tile::<R, 2>(&wblk, nj, us, b, s0, yblk),
                _ => forward_tile::<R, 1>(&wblk, nj, us, b, s0, yblk),
            };
        }
        j0 += nj;
    }
}

/// Adds the terms of one column block (`wblk[k][dj]`, dj < nj; `us` its nj rows of inputs)
/// to the sums of rows `0..R` and samples `s0..s0 + C`: the R·C sums are loaded from `yblk`,
/// held in registers over the block's columns in order, and stored back. Returns C.
#[inline(always)]
fn forward_tile<const R: usize, const C: usize>(
    wblk: &[[f64; FWD_COLS]; R],
    nj: usize,
    us: &[f64],
    b: usize,
    s0: usize,
    yblk: &mut [f64],
) -> usize {
    let mut acc = [[0.0f64; C]; R];
    for (k, ak) in acc.iter_mut().enumerate() {
        let at = k * b + s0;
        if let Some(src) = yblk.get(at..at + C) {
            ak.copy_from_slice(src);
        }
    }
    for (dj, uj) in us.chunks_exact(b).enumerate().take(nj.min(FWD_COLS)) {
        let Some(u) = uj
            .get(s0..s0 + C)
            .and_then(|u| <&[f64; C]>::try_from(u).ok())
        else {
            continue;
        };
        for (ak, wk) in acc.iter_mut().zip(wblk) {
            let w = wk[dj % FWD_COLS];
            for (a, &v) in ak.iter_mut().zip(u) {
                *a += w * v;
            }
        }
    }
    for (k, ak) in acc.iter().enumerate() {
        let at = k * b + s0;
        if let Some(dst) = yblk.get_mut(at..at + C) {
            dst.copy_from_slice(ak);
        }
    }
    C
}

/// Samples `s0..s0 + S` of a backward block of `nj` columns (`FULL`: nj = [`BWD_COLS`]): the
/// S·BWD_COLS sums stay in registers over the whole i loop, each adding its terms i ascending
/// from 0.0. Lanes past nj (a partial block) compute zeros that are never stored. Returns S.
#[inline(always)]
fn backward_tile<const S: usize, const FULL: bool>(
    p: &[f64],
    r: &[f64],
    rows: usize,
    cols: usize,
    j0: usize,
    nj: usize,
    ut: &[f64],
    b: usize,
    s0: usize,
    yblk: &mut [f64],
) -> usize {
    let mut acc = [[0.0f64; BWD_COLS]; S];
    let mut w = [0.0f64; BWD_COLS];
    for i in 0..rows {
        let at = i * cols + j0;
        if FULL {
            let Some(pk) = p
                .get(at..at + BWD_COLS)
                .and_then(|v| <&[f64; BWD_COLS]>::try_from(v).ok())
            else {
                continue;
            };
            if r.is_empty() {
                w = *pk;
            } else if let Some(rk) = r
                .get(at..at + BWD_COLS)
                .and_then(|v| <&[f64; BWD_COLS]>::try_from(v).ok())
            {
                for ((x, a), c) in w.iter_mut().zip(pk).zip(rk) {
                    *x = a - c;
                }
            } else {
                continue;
            }
        } else {
            let Some(pk) = p.get(at..at + nj) else {
                continue;
            };
            if r.is_empty() {
                for (x, &a) in w.iter_mut().zip(pk) {
                    *x = a;
                }
            } else if let Some(rk) = r.get(at..at + nj) {
                for ((x, a), c) in w.iter_mut().zip(pk).zip(rk) {
                    *x = a - c;
                }
            } else {
                continue;
            }
        }
        let au = i * b + s0;
        let Some(u) = ut
            .get(au..au + S)
            .and_then(|u| <&[f64; S]>::try_from(u).ok())
        else {
            continue;
        };
        for (acs, &us) in acc.iter_mut().zip(u) {
            for (a, &wj) in acs.iter_mut().zip(&w) {
                *a += wj * us;
            }
        }
    }
    for (ds, acs) in acc.iter().enumerate() {
        for (dj, &v) in acs.iter().enumerate().take(nj) {
            if let Some(dst) = yblk.get_mut(dj * b + s0 + ds) {
                *dst = v;
            }
        }
    }
    S
}

/// Passes and reads of a tile through the periphery; each advances the tick.
impl Tile {
    /// Reads columns of the logical weights with additive Gaussian read noise
    /// `noise_std·ξ` (ξ from the row's `READ` stream at this call's tick, one per element read,
    /// in column-list order). Returns (R, out, len(cols)). Advances the tick.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] for a column out of range or a negative or non-finite
    /// `noise_std`; the tile is then unchanged. Never panics.
    pub fn read_columns(
        &mut self,
        cols: &[usize],
        noise_std: f64,
        par: Par<'_>,
    ) -> Result<Array3<f64>, CoreError> {
        const OWNER: &str = "Tile.read";
        let (r, o, i) = self.shape();
        if let Some(bad) = cols.iter().find(|&&c| c >= i) {
            return Err(CoreError::param(
                "cols",
                OWNER,
                format!("column indices in the range [0, {i})"),
                bad,
            ));
        }
        if !(noise_std.is_finite() && noise_std >= 0.0) {
            return Err(CoreError::param(
                "noise_std",
                OWNER,
                "a float in the range [0, inf)",
                noise_std,
            ));
        }
        let ks = self.next_tick().keyed(tag::READ, 0);
        let nc = cols.len();
        let mut out = vec![0.0; r * o * nc];
        let (state, reference) = (&self.state, &self.reference);
        let f = |g: usize, orow: &mut [f64]| {
            let (prow, rrow) = (row(state, g, i), row(reference, g, i));
            let exact = |c: usize| {
                let p = prow.get(c).copied().unwrap_or(0.0);
                p - rrow.get(c).copied().unwrap_or(0.0)
            };
            if noise_std > 0.0 {
                let mut s = ks.row_stream(g);
                for (v, &c) in orow.iter_mut().zip(cols) {
                    *v = exact(c) + noise_std * s.normal();
                }
            } else {
                // Nothing is drawn: the row's stream is not opened (residual learning reads
                // one column of 256 replicas' rows every step).
                for (v, &c) in orow.iter_mut().zip(cols) {
                    *v = exact(c);
                }
            }
        };
        par.run(out.len(), |parallel| {
            for_each_row(parallel, &mut out, nc, f);
        });
        Ok(Array3::from_shape_vec((r, o, nc), out)
            .unwrap_or_else(|_| unreachable!("buffer length is R*out*ncols by construction")))
    }

    /// Runs one analog pass per sample: `x` is (R, B, n_x) row-major with n_x = in (forward)
    /// or out (backward); returns (R, B, n_y). Sample b of replica r draws from the stream
    /// `(tick, r, row = b, tag, sample = sub)`. Samples go through in chunks of
    /// [`PASS_CHUNK`] (their streams, inputs and outputs in buffers allocated once per call);
    /// each sample's draws and sums are those of a pass of its own, so the chunking changes
    /// nothing but the memory and the speed.
    fn passes(
        &mut self,
        x: &[f64],
        b: usize,
        io: &IoSpec,
        transpose: bool,
        tag: u64,
        sub: u64,
        par: Par<'_>,
    ) -> Vec<f64> {
        let (r, o, i) = self.shape();
        let (len_x, len_y) = if transpose { (o, i) } else { (i, o) };
        // Every sample's stream of this pass shares one key (tag, sub).
        let ks = self.next_tick().keyed(tag, sub);
        let bm_allowed = !transpose;
        let mut out = vec![0.0; r * b * len_y];
        if len_y == 0 || b == 0 {
            return out;
        }
        let (state, reference) = (&self.state, &self.reference);
        par.run(r * b * o * i, |par| {
            let chunk = b.min(PASS_CHUNK);
            let mut ut = vec![0.0; len_x * chunk];
            let mut yt = vec![0.0; len_y * chunk];
            // The processed inputs of up to TRANSPOSE_BLOCK samples, then put into ut together.
            let mut ubs = vec![0.0; len_x * TRANSPOSE_BLOCK];
            let mut noise: Vec<f64> = Vec::new();
            let mut streams: Vec<Stream> = Vec::with_capacity(chunk);
            let mut scales = vec![1.0; chunk];
            for rep in 0..r {
                let (pr, rf) = (row(state, rep, o * i), row(reference, rep, o * i));
                // A zero reference is not read (`mvm_batch` takes an empty one as zero).
                let rr = if self.reference_zero { &[][..] } else { rf };
                let Some(orep) = out.get_mut(rep * b * len_y..(rep + 1) * b * len_y) else {
                    continue;
                };
                for (c, ochunk) in orep.chunks_mut(chunk * len_y).enumerate() {
                    let c0 = c * chunk;
                    let nb = ochunk.len() / len_y;
                    // Steps 1–3 for every sample (its own stream), written transposed into ut.
                    streams.clear();
                    streams.extend((c0..c0 + nb).map(|bb| ks.open(rep, bb as u64)));
                    for (k, (s, sc)) in streams.iter_mut().zip(scales.iter_mut()).enumerate() {
                        let xs = row(x, rep * b + c0 + k, len_x);
                        let kk = k % TRANSPOSE_BLOCK;
                        let Some(ub) = ubs.get_mut(kk * len_x..(kk + 1) * len_x) else {
                            continue;
                        };
                        if io.is_perfect {
                            *sc = 1.0;
                            ub.copy_from_slice(xs);
                        } else {
                            *sc = nm_scale(io, xs);
                            if *sc == 0.0 {
                                ub.fill(0.0);
                            } else {
                                input_stage_bulk(io, xs, *sc, 1.0, ub, s, &mut noise);
                            }
                        }
                        if kk + 1 == TRANSPOSE_BLOCK || k + 1 == nb {
                            let k0 = k - kk;
                            let filled = ubs.get(..(kk + 1) * len_x).unwrap_or(&[]);
                            put_columns(&mut ut, k0, nb, filled, len_x);
                        }
                    }
                    // One product for the chunk (step 4).
                    let yt = yt.get_mut(..len_y * nb).unwrap_or(&mut []);
                    let ut = ut.get(..len_x * nb).unwrap_or(&[]);
                    mvm_batch(pr, rr, o, i, transpose, nb, ut, yt, par);
                    take_rows(yt, ochunk, len_y);
                    // Steps 5–7 per sample; the rare bound-management repeats run one sample
                    // at a time.
                    for (k, ((y, s), &sc)) in ochunk
                        .chunks_mut(len_y)
                        .zip(streams.iter_mut())
                        .zip(&scales)
                        .enumerate()
                    {
                        if io.is_perfect {
                            for v in y.iter_mut() {
                                *v *= io.out_scale;
                            }
                            continue;
                        }
                        if sc == 0.0 {
                            y.fill(0.0);
                            continue;
                        }
                        let xs = row(x, rep * b + c0 + k, len_x);
                        let mut factor = 1.0;
                        let mut saturated = output_stage_bulk(io, y, s, &mut noise);
                        while repeat_pass(io, bm_allowed, saturated, factor) {
                            factor *= 2.0;
                            let ub = ubs.get_mut(..len_x).unwrap_or(&mut []);
                            input_stage(io, xs, sc, factor, ub, s);
                            mvm_one(pr, rf, i, transpose, ub, y);
                            saturated = output_stage(io, y, s);
                        }
                        let k = sc * factor * io.out_scale;
                        for v in y.iter_mut() {
                            *v *= k;
                        }
                    }
                }
            }
        });
        out
    }

    /// Forward pass `y = IO(W x)` of every sample through the periphery (shared/theory.md
    /// §2.5), x of shape (R, B, in); returns (R, B, out). Advances the tick.
    ///
    /// # Errors
    /// Shape, finiteness or IO-parameter errors; the tile is then unchanged. Never panics.
    pub fn forward(
        &mut self,
        x: ArrayView3<'_, f64>,
        io: &IoSpec,
        par: Par<'_>,
    ) -> Result<Array3<f64>, CoreError> {
        self.directed(x, io, false, par)
    }

    /// Backward pass `Wᵀ d` of every sample through the periphery (bound management is off, as
    /// in aihwkit), d of shape (R, B, out); returns (R, B, in). Advances the tick.
    ///
    /// # Errors
    /// Shape, finiteness or IO-parameter errors; the tile is then unchanged. Never panics.
    pub fn backward(
        &mut self,
        d: ArrayView3<'_, f64>,
        io: &IoSpec,
        par: Par<'_>,
    ) -> Result<Array3<f64>, CoreError> {
        self.directed(d, io, true, par)
    }

    fn directed(
        &mut self,
        x: ArrayView3<'_, f64>,
        io: &IoSpec,
        transpose: bool,
        par: Par<'_>,
    ) -> Result<Array3<f64>, CoreError> {
        let (owner, name) = if transpose {
            ("Tile.backward", "d")
        } else {
            ("Tile.forward", "x")
        };
        let (r, o, i) = self.shape();
        let b = x.shape().get(1).copied().unwrap_or(0);
        let (len_x, len_y) = if transpose { (o, i) } else { (i, o) };
        Self::check_shape(name, owner, x.shape(), [r, b, len_x])?;
        if x.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite(name, owner));
        }
        io.validate()?;
        let x = x.as_standard_layout();
        let xs = x.as_slice().unwrap_or(&[]);
        let tag = if transpose {
            tag::BACKWARD
        } else {
            tag::FORWARD
        };
        let out = self.passes(xs, b, io, transpose, tag, 0, par);
        Ok(Array3::from_shape_vec((r, b, len_y), out)
            .unwrap_or_else(|_| unreachable!("R*B*len_y values by construction")))
    }

    /// Reads columns through the periphery: a forward pass of the one-hot input e_j for each
    /// listed column (transfer reads, shared/theory.md §2.5), on the `READ` streams with
    /// sample tag 1. Returns (R, out, len(cols)). Advances the tick.
    ///
    /// # Errors
    /// A column out of range or bad IO parameters; the tile is then unchanged. Never panics.
    pub fn read_columns_io(
        &mut self,
        cols: &[usize],
        io: &IoSpec,
        par: Par<'_>,
    ) -> Result<Array3<f64>, CoreError> {
        let (r, o, i) = self.shape();
        if let Some(bad) = cols.iter().find(|&&c| c >= i) {
            return Err(CoreError::param(
                "cols",
                "Tile.read",
                format!("column indices in the range [0, {i})"),
                bad,
            ));
        }
        io.validate()?;
        let nc = cols.len();
        let mut x = vec![0.0; r * nc * i];
        for rep in 0..r {
            for (k, &c) in cols.iter().enumerate() {
                if let Some(v) = x.get_mut((rep * nc + k) * i + c) {
                    *v = 1.0;
                }
            }
        }
        let y = self.passes(&x, nc, io, false, tag::READ, 1, par);
        // y is (R, nc, out): transpose each replica to (out, nc).
        let mut out = vec![0.0; r * o * nc];
        for rep in 0..r {
            for k in 0..nc {
                for row_i in 0..o {
                    if let (Some(dst), Some(src)) = (
                        out.get_mut((rep * o + row_i) * nc + k),
                        y.get((rep * nc + k) * o + row_i),
                    ) {
                        *dst = *src;
                    }
                }
            }
        }
        Ok(Array3::from_shape_vec((r, o, nc), out)
            .unwrap_or_else(|_| unreachable!("R*out*ncols values by construction")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values in (−0.5, 0.5) with full 53-bit mantissas (so that fused and separate
    /// multiply-adds round differently somewhere).
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// B calls of [`mvm_one`] (the scalar reference), in and out transposed as in mvm_batch;
    /// with `fused`, the same sums with `mul_add` instead (what an FMA would give).
    fn reference(
        p: &[f64],
        r: &[f64],
        rows: usize,
        cols: usize,
        transpose: bool,
        b: usize,
        ut: &[f64],
        fused: bool,
    ) -> Vec<f64> {
        let (len_x, len_y) = if transpose {
            (rows, cols)
        } else {
            (cols, rows)
        };
        let mut yt = vec![0.0; len_y * b];
        for s in 0..b {
            let u: Vec<f64> = (0..len_x).map(|k| ut[k * b + s]).collect();
            let mut y = vec![0.0; len_y];
            if fused {
                for (k, yk) in y.iter_mut().enumerate() {
                    let mut acc = 0.0f64;
                    for (m, um) in u.iter().enumerate() {
                        let at = if transpose {
                            m * cols + k
                        } else {
                            k * cols + m
                        };
                        acc = (p[at] - r[at]).mul_add(*um, acc);
                    }
                    *yk = acc;
                }
            } else {
                mvm_one(p, r, cols, transpose, &u, &mut y);
            }
            for (k, v) in y.iter().enumerate() {
                yt[k * b + s] = *v;
            }
        }
        yt
    }

    fn target_kernels() -> Vec<(&'static str, Kernels)> {
        vec![
            (
                "scalar",
                Kernels {
                    forward_rows: forward_rows_scalar,
                    backward_cols: backward_cols_scalar,
                    backward_samples: backward_samples_scalar,
                },
            ),
            (
                "avx512",
                Kernels {
                    forward_rows: forward_rows_avx512,
                    backward_cols: backward_cols_avx512,
                    backward_samples: backward_samples_avx512,
                },
            ),
            (
                "avx2",
                Kernels {
                    forward_rows: forward_rows_avx2,
                    backward_cols: backward_cols_avx2,
                    backward_samples: backward_samples_avx2,
                },
            ),
            (
                "popcnt",
                Kernels {
                    forward_rows: forward_rows_popcnt,
                    backward_cols: backward_cols_popcnt,
                    backward_samples: backward_samples_popcnt,
                },
            ),
        ]
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn every_target_and_thread_count_gives_mvm_ones_bits() {
        // Shapes hit every block remainder: rows/cols not multiples of 4, 16 or 64, batches
        // below and above the wide-backward switch and every sample-tile width of the
        // forward kernel (1 to 16).
        let shapes = [
            (1, 1, 1),
            (3, 5, 1),
            (4, 64, 2),
            (7, 70, 3),
            (6, 66, 5),
            (2, 9, 6),
            (5, 67, 7),
            (3, 70, 9),
            (5, 129, 10),
            (7, 65, 13),
            (6, 3, 14),
            (9, 66, 15),
            (8, 64, 10),
            (17, 65, 11),
            (24, 200, 12),
            (16, 25, 16),
            (33, 17, 31),
            (9, 130, 47),
            (20, 3, 100),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a rayon pool");
        let mut fma_differs = 0;
        for (n, &(rows, cols, b)) in shapes.iter().enumerate() {
            let p = values(rows * cols, 3 * n as u64 + 1);
            let r = values(rows * cols, 3 * n as u64 + 2);
            for transpose in [false, true] {
                let len_x = if transpose { rows } else { cols };
                let ut = values(len_x * b, 3 * n as u64 + 3);
                let want = reference(&p, &r, rows, cols, transpose, b, &ut, false);
                let fused = reference(&p, &r, rows, cols, transpose, b, &ut, true);
                fma_differs += usize::from(bits(&fused) != bits(&want));
                let case = format!("{rows}x{cols} b {b} transpose {transpose}");
                let mut got = vec![f64::NAN; want.len()];
                mvm_batch(&p, &r, rows, cols, transpose, b, &ut, &mut got, false);
                assert_eq!(bits(&got), bits(&want), "dispatched, serial, {case}");
                got.fill(f64::NAN);
                pool.install(|| mvm_batch(&p, &r, rows, cols, transpose, b, &ut, &mut got, true));
                assert_eq!(bits(&got), bits(&want), "dispatched, 3 threads, {case}");
                for (name, k) in target_kernels() {
                    got.fill(f64::NAN);
                    mvm_batch_with(&k, &p, &r, rows, cols, transpose, b, &ut, &mut got, false);
                    assert_eq!(bits(&got), bits(&want), "{name}, {case}");
                }
                // A zero reference given as empty (not read) gives the bits of +0.0 values,
                // a state with signed zeros included.
                let mut pz = p.clone();
                for v in pz.iter_mut().step_by(5) {
                    *v = -0.0;
                }
                let zeros = vec![0.0; rows * cols];
                let want = reference(&pz, &zeros, rows, cols, transpose, b, &ut, false);
                for (name, k) in target_kernels() {
                    got.fill(f64::NAN);
                    mvm_batch_with(&k, &pz, &[], rows, cols, transpose, b, &ut, &mut got, false);
                    assert_eq!(bits(&got), bits(&want), "{name}, zero reference, {case}");
                }
                got.fill(f64::NAN);
                pool.install(|| mvm_batch(&pz, &[], rows, cols, transpose, b, &ut, &mut got, true));
                assert_eq!(bits(&got), bits(&want), "3 threads, zero reference, {case}");
            }
        }
        // The inputs would expose an FMA contraction: fused sums differ from separate ones in
        // most cases (so equality above also says that no target fused).
        assert!(fma_differs >= shapes.len(), "{fma_differs}");
    }

    type Q = fn(&[f64], f64, f64, f64, &mut [f64]);
    type N = fn(&mut [f64], &[f64], f64, f64, f64, bool) -> bool;
    type A = fn(&mut [f64], f64, &[f64]);

    fn io(sto: bool, inp_noise: f64, out_noise: f64, res: f64) -> IoSpec {
        IoSpec {
            is_perfect: false,
            inp_bound: 1.0,
            inp_res: res,
            inp_sto_round: sto,
            inp_noise,
            out_bound: 0.7,
            out_res: res,
            out_sto_round: sto,
            out_noise,
            out_scale: 1.0,
            noise_management: NoiseManagement::AbsMax,
            nm_thres: 0.0,
            bound_management: BoundManagement::Iterative,
            bm_test_negative_bound: true,
            max_bm_factor: 1000.0,
            max_bm_res: 0.25,
        }
    }

    #[test]
    fn exact_products_are_mvm_one_per_sample_for_any_thread_count() {
        // Replicas, batches past PASS_CHUNK (a second chunk), signed zeros, both directions.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a rayon pool");
        for (n, &(r, rows, cols, b)) in
            [(1, 1, 1, 1), (3, 5, 20, 10), (2, 17, 9, 300), (4, 8, 64, 3)]
                .iter()
                .enumerate()
        {
            let mut w = values(r * rows * cols, 5 * n as u64 + 1);
            for v in w.iter_mut().step_by(7) {
                *v = -0.0;
            }
            for transpose in [false, true] {
                let (len_x, len_y) = if transpose {
                    (rows, cols)
                } else {
                    (cols, rows)
                };
                let u = values(r * b * len_x, 5 * n as u64 + 2);
                let zeros = vec![0.0; rows * cols];
                let mut want = Vec::with_capacity(r * b * len_y);
                for rep in 0..r {
                    let wr = &w[rep * rows * cols..(rep + 1) * rows * cols];
                    for k in 0..b {
                        let at = (rep * b + k) * len_x;
                        let mut y = vec![0.0; len_y];
                        mvm_one(wr, &zeros, cols, transpose, &u[at..at + len_x], &mut y);
                        want.extend(y);
                    }
                }
                let shape = (r, rows, cols, b);
                let serial = exact_products(&w, &u, shape, transpose, Par::serial());
                let threaded = exact_products(&w, &u, shape, transpose, Par::on(&pool));
                let case = format!("{r} x {rows}x{cols}, b {b}, transpose {transpose}");
                assert_eq!(bits(&serial), bits(&want), "serial, {case}");
                assert_eq!(bits(&threaded), bits(&want), "3 threads, {case}");
            }
        }
        // Inputs of the wrong lengths: zeros, no panic.
        let z = exact_products(&[1.0; 5], &[1.0; 3], (1, 2, 2, 1), false, Par::serial());
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn gathered_residuals_are_the_taken_rows_and_exact_products() {
        // Rows picked with repeats and out of order; d is (W x − t) / B per value, with W x the
        // bits of exact_products, on one thread and three; bad row numbers and lengths are errors
        // naming `rows`, never a panic.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a rayon pool");
        let (r, n, o, i, b) = (3, 7, 5, 20, 4);
        let a = values(r * n * i, 31);
        let t = values(r * n * o, 32);
        let w = values(r * o * i, 33);
        let rows: Vec<i64> = vec![6, 0, 6, 3, 1, 1, 2, 5, 0, 4, 6, 2];
        let x = gather_rows(&a, &rows, (r, n, i, b), "test").expect("rows in range");
        let tt = gather_rows(&t, &rows, (r, n, o, b), "test").expect("rows in range");
        for (k, &row) in rows.iter().enumerate() {
            let (rep, src) = (k / b, usize::try_from(row).expect("row >= 0"));
            assert_eq!(
                bits(&x[k * i..(k + 1) * i]),
                bits(&a[(rep * n + src) * i..][..i])
            );
            assert_eq!(
                bits(&tt[k * o..(k + 1) * o]),
                bits(&t[(rep * n + src) * o..][..o])
            );
        }
        let y = exact_products(&w, &x, (r, o, i, b), false, Par::serial());
        let want: Vec<f64> = y
            .iter()
            .zip(&tt)
            .map(|(v, tv)| (v - tv) / b as f64)
            .collect();
        for par in [Par::serial(), Par::on(&pool)] {
            let d = mean_residuals(&w, &x, &tt, (r, o, i, b), par);
            assert_eq!(bits(&d), bits(&want));
        }
        for bad in [-1i64, 7, i64::MAX, i64::MIN] {
            let mut rs = rows.clone();
            rs[5] = bad;
            let err = gather_rows(&a, &rs, (r, n, i, b), "owner").expect_err("row out of range");
            let msg = err.to_string();
            assert!(msg.contains("'rows'") && msg.contains("[0, 7)"), "{msg}");
        }
        assert!(gather_rows(&a, &rows[1..], (r, n, i, b), "o").is_err());
        assert!(gather_rows(&a[1..], &rows, (r, n, i, b), "o").is_err());
        assert_eq!(
            mean_residuals(&w, &x, &tt[1..], (r, o, i, b), Par::serial()),
            vec![0.0; r * b * o]
        );
    }

    #[test]
    fn small_products_are_the_index_order_sums_on_every_target_and_thread_count() {
        type Kernel = fn(&[f64], usize, usize, usize, &[f64], &mut [f64]);
        // Shapes on both sides of the small path's limits (len_x 64, len_y 64, few samples
        // of a large W forward) and of its widths (4, 8, …; W used in place when its rows
        // are a width), odd and even batches, one replica past PASS_CHUNK samples; signed
        // zeros, and infinities in the inputs (the padding lanes' NaNs must not show).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a rayon pool");
        let shapes = [
            (1, 1, 1, 1),
            (3, 1, 1, 5),
            (4, 4, 3, 2),
            (2, 5, 20, 10),
            (5, 5, 20, 3),
            (2, 8, 9, 7),
            (2, 9, 8, 4),
            (1, 17, 33, 300),
            (3, 64, 64, 3),
            (2, 63, 65, 2),
            (2, 65, 63, 2),
            (1, 65, 65, 1),
            (2, 3, 64, 6),
            (1, 64, 64, 16),
            (1, 64, 64, 15),
            (1, 45, 45, 1),
            (2, 16, 64, 1),
            (2, 8, 8, 3),
        ];
        for (n, &(r, rows, cols, b)) in shapes.iter().enumerate() {
            let mut w = values(r * rows * cols, 7 * n as u64 + 3);
            for v in w.iter_mut().step_by(5) {
                *v = -0.0;
            }
            for transpose in [false, true] {
                let (len_x, len_y) = if transpose {
                    (rows, cols)
                } else {
                    (cols, rows)
                };
                let mut u = values(r * b * len_x, 7 * n as u64 + 4);
                if let Some(v) = u.get_mut(len_x) {
                    *v = f64::INFINITY;
                }
                // The contract, term by term: Σ_j w·u, j ascending from 0.0, no FMA.
                let mut want = vec![0.0; r * b * len_y];
                for rep in 0..r {
                    for k in 0..b {
                        for o in 0..len_y {
                            let mut acc = 0.0;
                            for j in 0..len_x {
                                let at = if transpose {
                                    j * cols + o
                                } else {
                                    o * cols + j
                                };
                                acc += w[rep * rows * cols + at] * u[(rep * b + k) * len_x + j];
                            }
                            want[(rep * b + k) * len_y + o] = acc;
                        }
                    }
                }
                let shape = (r, rows, cols, b);
                let case = format!("{r} x {rows}x{cols}, b {b}, transpose {transpose}");
                let serial = exact_products(&w, &u, shape, transpose, Par::serial());
                let threaded = exact_products(&w, &u, shape, transpose, Par::on(&pool));
                assert_eq!(bits(&serial), bits(&want), "serial, {case}");
                assert_eq!(bits(&threaded), bits(&want), "2 threads, {case}");
                // Every compiled target of the kernel: the same bits (one replica's samples).
                let Some(width) = small_width(len_x, len_y, b, transpose) else {
                    continue;
                };
                let mut m = vec![0.0; len_x * width];
                for j in 0..len_x {
                    for o in 0..len_y {
                        let at = if transpose {
                            j * cols + o
                        } else {
                            o * cols + j
                        };
                        m[j * width + o] = w[at];
                    }
                }
                let targets: [(&str, Kernel); 4] = [
                    ("scalar", small_block_scalar),
                    ("avx512", small_block_avx512),
                    ("avx2", small_block_avx2),
                    ("popcnt", small_block_popcnt),
                ];
                for (name, kernel) in targets {
                    let mut y = vec![f64::NAN; b * len_y];
                    kernel(&m, width, len_x, len_y, &u[..b * len_x], &mut y);
                    assert_eq!(bits(&y), bits(&want[..b * len_y]), "{name}, {case}");
                }
            }
        }
    }

    #[test]
    fn bulk_stages_draw_and_compute_as_the_one_by_one_stages() {
        let x: Vec<f64> = values(300, 21).iter().map(|v| 3.0 * v).collect();
        let ios = [
            io(false, 0.0, 0.0, 0.0),
            io(false, 0.0, 0.06, 1.0 / 510.0),
            io(false, 0.03, 0.06, 1.0 / 126.0),
            io(true, 0.03, 0.06, 1.0 / 126.0),
            io(false, 0.03, 0.06, 0.0),
        ];
        let mut noise = Vec::new();
        for (n, spec) in ios.iter().enumerate() {
            for len in [0, 1, 7, 16, 45, 300] {
                let xs = &x[..len];
                let open = || Stream::open([n as u64, 5], 3, 1, len as u64, tag::FORWARD, 0);
                let (mut s1, mut s2) = (open(), open());
                let (mut u1, mut u2) = (vec![0.0; len], vec![f64::NAN; len]);
                input_stage(spec, xs, 0.8, 2.0, &mut u1, &mut s1);
                input_stage_bulk(spec, xs, 0.8, 2.0, &mut u2, &mut s2, &mut noise);
                assert_eq!(bits(&u1), bits(&u2), "input, io {n}, len {len}");
                let mut y1: Vec<f64> = xs.iter().map(|v| v * 0.4).collect();
                let mut y2 = y1.clone();
                let sat1 = output_stage(spec, &mut y1, &mut s1);
                let sat2 = output_stage_bulk(spec, &mut y2, &mut s2, &mut noise);
                assert_eq!(bits(&y1), bits(&y2), "output, io {n}, len {len}");
                assert_eq!(sat1, sat2, "saturation, io {n}, len {len}");
                // Both streams are at the same place afterwards.
                assert_eq!(s1.next_u32(), s2.next_u32(), "draws, io {n}, len {len}");
            }
        }
        // Every compiled target of the vector loops gives the scalar copy's bits.
        let nz = values(300, 22);
        let mut want = vec![0.0; 300];
        quantise_clip_scalar(&x, 0.7, 1.0 / 63.0, 1.0, &mut want);
        let mut yw: Vec<f64> = x.clone();
        let satw = noise_quantise_clip_scalar(&mut yw, &nz, 0.06, 24.0 / 510.0, 0.7, true);
        let mut aw = x.clone();
        add_scaled_scalar(&mut aw, 0.03, &nz);
        let targets: [(&str, Q, N, A); 4] = [
            ("dispatched", quantise_clip, noise_quantise_clip, add_scaled),
            (
                "avx512",
                quantise_clip_avx512,
                noise_quantise_clip_avx512,
                add_scaled_avx512,
            ),
            (
                "avx2",
                quantise_clip_avx2,
                noise_quantise_clip_avx2,
                add_scaled_avx2,
            ),
            (
                "popcnt",
                quantise_clip_popcnt,
                noise_quantise_clip_popcnt,
                add_scaled_popcnt,
            ),
        ];
        for (name, q, nq, add) in targets {
            let mut got = vec![f64::NAN; 300];
            q(&x, 0.7, 1.0 / 63.0, 1.0, &mut got);
            assert_eq!(bits(&got), bits(&want), "{name} quantise_clip");
            let mut y = x.clone();
            assert_eq!(
                nq(&mut y, &nz, 0.06, 24.0 / 510.0, 0.7, true),
                satw,
                "{name}"
            );
            assert_eq!(bits(&y), bits(&yw), "{name} noise_quantise_clip");
            let mut a = x.clone();
            add(&mut a, 0.03, &nz);
            assert_eq!(bits(&a), bits(&aw), "{name} add_scaled");
        }
    }

    #[test]
    fn round_half_even_is_rint() {
        let mut cases = vec![
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            -0.5,
            -2.5,
            -0.3,
            0.5 - f64::EPSILON / 4.0,
            4_503_599_627_370_495.5,
            4_503_599_627_370_497.0,
            9.0e15 + 1.0,
            1e300,
            -1e300,
            f64::MIN_POSITIVE,
        ];
        cases.extend(values(100_000, 9).iter().map(|v| v * 1000.0));
        cases.extend((-400..400).map(|k| f64::from(k) * 0.5));
        for q in cases {
            assert_eq!(
                round_half_even(q).to_bits(),
                q.round_ties_even().to_bits(),
                "{q}"
            );
        }
        assert!(round_half_even(f64::NAN).is_nan());
    }

    #[test]
    fn no_fused_multiply_add_on_any_target() {
        // w·u = (1 + 2⁻²⁷)(1 − 2⁻²⁷) = 1 − 2⁻⁵⁴ rounds to 1.0 (a tie, to even), so
        // −1 + w·u = 0.0 exactly with separate operations, −2⁻⁵⁴ with an FMA.
        let e = 2f64.powi(-27);
        for (b, rows) in [(1, 1), (10, 5), (40, 9)] {
            // Forward: each row is [−1, 1 + 2⁻²⁷], every input [1, 1 − 2⁻²⁷].
            let p: Vec<f64> = (0..rows).flat_map(|_| [-1.0, 1.0 + e]).collect();
            let r = vec![0.0; 2 * rows];
            let ut: Vec<f64> = [1.0, 1.0 - e].iter().flat_map(|&v| vec![v; b]).collect();
            // Backward: column j of the (2 × rows) array is [−1, 1 + 2⁻²⁷].
            let pt: Vec<f64> = [-1.0, 1.0 + e]
                .iter()
                .flat_map(|&v| vec![v; rows])
                .collect();
            let fused = reference(&p, &r, rows, 2, false, b, &ut, true);
            assert_eq!(fused[0], -(2f64.powi(-54)));
            for (name, k) in target_kernels() {
                let mut got = vec![f64::NAN; rows * b];
                mvm_batch_with(&k, &p, &r, rows, 2, false, b, &ut, &mut got, false);
                assert!(
                    got.iter().all(|v| v.to_bits() == 0),
                    "{name} forward: {got:?}"
                );
                got.fill(f64::NAN);
                mvm_batch_with(&k, &pt, &r, 2, rows, true, b, &ut, &mut got, false);
                assert!(
                    got.iter().all(|v| v.to_bits() == 0),
                    "{name} backward: {got:?}"
                );
            }
        }
    }
}
