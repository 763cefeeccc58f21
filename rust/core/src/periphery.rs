//! Crossbar periphery: forward (W x) and backward (Wᵀ d) passes through DACs and ADCs with
//! noise, bounds, noise management and bound management (shared/theory.md §2.5, aihwkit's
//! `IOParameters`). Each sample of each replica draws from its own stream
//! `(tick, replica, row = sample, tag)`, so passes are deterministic for any thread count.

use ndarray::{Array3, ArrayView3};

use crate::error::CoreError;
use crate::par::{for_each_row, row, Par};
use crate::rng::{tag, Stream};
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
        q.round_ties_even()
    };
    k * step
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
/// (never stored); sums run in index order from 0.0.
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

/// The same products for B samples at once, `ut` holding the inputs transposed (len_x × B) and
/// `yt` receiving the outputs transposed (len_y × B). Each output still sums in index order
/// from 0.0, so the result equals B calls of [`mvm_one`] bit for bit; W is read once per batch
/// instead of once per sample. Parallel over output rows (forward) or column blocks (backward).
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
    use rayon::prelude::*;
    if b == 0 {
        return;
    }
    if transpose {
        // yt[j][·] = Σ_i w_ij ut[i][·], i ascending; tasks own blocks of 32 columns.
        const BLOCK: usize = 32;
        let f = |(blk, ychunk): (usize, &mut [f64])| {
            ychunk.fill(0.0);
            let j0 = blk * BLOCK;
            let nj = ychunk.len() / b;
            // Rows in groups of four (their block of W formed once), samples in pairs: the
            // group's terms go into each partial sum in row order, the u values and the sum
            // in registers.
            let mut wblk = [[0.0f64; BLOCK]; 4];
            let mut i0 = 0;
            while i0 < rows {
                let nr = (rows - i0).min(4);
                for (k, wk) in wblk.iter_mut().enumerate().take(nr) {
                    let base = (i0 + k) * cols + j0;
                    let prow = p.get(base..base + nj).unwrap_or(&[]);
                    let rrow = r.get(base..base + nj).unwrap_or(&[]);
                    for ((w, pij), rij) in wk.iter_mut().zip(prow).zip(rrow) {
                        *w = pij - rij;
                    }
                }
                let mut s0 = 0;
                while s0 < b {
                    let pair = b - s0 >= 2;
                    match (nr, pair) {
                        (4, true) => group_into_cols::<4, 2>(&wblk, ut, b, i0, s0, nj, ychunk),
                        (4, false) => group_into_cols::<4, 1>(&wblk, ut, b, i0, s0, nj, ychunk),
                        (_, true) => rows_one_by_one::<2>(&wblk, nr, ut, b, i0, s0, nj, ychunk),
                        (_, false) => rows_one_by_one::<1>(&wblk, nr, ut, b, i0, s0, nj, ychunk),
                    }
                    s0 += if pair { 2 } else { 1 };
                }
                i0 += nr;
            }
        };
        if parallel {
            yt.par_chunks_mut(BLOCK * b).enumerate().for_each(f);
        } else {
            yt.chunks_mut(BLOCK * b).enumerate().for_each(f);
        }
    } else {
        // yt[i][·] = Σ_j w_ij ut[j][·], j ascending; tasks own output rows.
        let f = |(i, yi): (usize, &mut [f64])| {
            let base = i * cols;
            let (prow, rrow) = (
                p.get(base..base + cols).unwrap_or(&[]),
                r.get(base..base + cols).unwrap_or(&[]),
            );
            // Samples in chunks of 8, 4, 2, 1 whose sums stay in registers over the j loop.
            let mut s0 = 0;
            while s0 < b {
                let left = b - s0;
                s0 += if left >= 8 {
                    row_chunk::<8>(prow, rrow, ut, b, s0, yi)
                } else if left >= 4 {
                    row_chunk::<4>(prow, rrow, ut, b, s0, yi)
                } else if left >= 2 {
                    row_chunk::<2>(prow, rrow, ut, b, s0, yi)
                } else {
                    row_chunk::<1>(prow, rrow, ut, b, s0, yi)
                };
            }
        };
        if parallel {
            yt.par_chunks_mut(b).enumerate().with_min_len(8).for_each(f);
        } else {
            yt.chunks_mut(b).enumerate().for_each(f);
        }
    }
}

/// Samples `s0..s0 + C` of one forward output row: y_s = Σ_j (p_j − r_j)·u_js, j ascending from
/// 0.0 (the order of [`mvm_one`]), the C sums held in registers. Returns C.
#[inline(always)]
fn row_chunk<const C: usize>(
    prow: &[f64],
    rrow: &[f64],
    ut: &[f64],
    b: usize,
    s0: usize,
    yi: &mut [f64],
) -> usize {
    let mut acc = [0.0f64; C];
    for ((pij, rij), uj) in prow.iter().zip(rrow).zip(ut.chunks_exact(b)) {
        let w = pij - rij;
        let mut u = [0.0f64; C];
        if let Some(src) = uj.get(s0..s0 + C) {
            u.copy_from_slice(src);
        }
        for (a, v) in acc.iter_mut().zip(u) {
            *a += w * v;
        }
    }
    if let Some(dst) = yi.get_mut(s0..s0 + C) {
        dst.copy_from_slice(&acc);
    }
    C
}

/// The last rows of a backward pass (fewer than four), one at a time, in order.
#[inline(always)]
fn rows_one_by_one<const C: usize>(
    wblk: &[[f64; 32]],
    nr: usize,
    ut: &[f64],
    b: usize,
    i0: usize,
    s0: usize,
    nj: usize,
    yblk: &mut [f64],
) {
    for k in 0..nr {
        let w = wblk.get(k..=k).unwrap_or(&[]);
        group_into_cols::<1, C>(w, ut, b, i0 + k, s0, nj, yblk);
    }
}

/// Adds the terms of rows `i0..i0 + R` (weights `wblk[k][dj]` of the block's columns) for
/// samples `s0..s0 + C` to the block's partial sums (`yblk`, transposed: a column's b sums in
/// a row), rows in order, so every output still adds its terms i ascending from 0.0 (the order
/// of [`mvm_one`]).
#[inline(always)]
fn group_into_cols<const R: usize, const C: usize>(
    wblk: &[[f64; 32]],
    ut: &[f64],
    b: usize,
    i0: usize,
    s0: usize,
    nj: usize,
    yblk: &mut [f64],
) {
    let mut u = [[0.0f64; C]; R];
    for (k, uk) in u.iter_mut().enumerate() {
        let at = (i0 + k) * b + s0;
        if let Some(src) = ut.get(at..at + C) {
            uk.copy_from_slice(src);
        }
    }
    for (dj, yj) in yblk.chunks_exact_mut(b).enumerate().take(nj) {
        let Some(ys) = yj.get_mut(s0..s0 + C) else {
            continue;
        };
        let mut acc = [0.0f64; C];
        acc.copy_from_slice(ys);
        for (wk, uk) in wblk.iter().zip(&u) {
            let w = wk.get(dj).copied().unwrap_or(0.0);
            for (a, uv) in acc.iter_mut().zip(uk) {
                *a += w * uv;
            }
        }
        ys.copy_from_slice(&acc);
    }
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
        let st = self.next_tick();
        let nc = cols.len();
        let mut out = vec![0.0; r * o * nc];
        let (state, reference) = (&self.state, &self.reference);
        let f = |g: usize, orow: &mut [f64]| {
            let mut s = st.row_stream(g, tag::READ);
            let (prow, rrow) = (row(state, g, i), row(reference, g, i));
            for (v, &c) in orow.iter_mut().zip(cols) {
                let p = prow.get(c).copied().unwrap_or(0.0);
                let rf = rrow.get(c).copied().unwrap_or(0.0);
                *v = if noise_std > 0.0 {
                    (p - rf) + noise_std * s.normal()
                } else {
                    p - rf
                };
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
    /// `(tick, r, row = b, tag, sample = sub)`.
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
        let st = self.next_tick();
        let bm_allowed = !transpose;
        let mut out = vec![0.0; r * b * len_y];
        if len_y == 0 || b == 0 {
            return out;
        }
        let (state, reference) = (&self.state, &self.reference);
        par.run(r * b * o * i, |par| {
            let mut ut = vec![0.0; len_x * b];
            let mut yt = vec![0.0; len_y * b];
            let mut u = vec![0.0; b * len_x];
            for rep in 0..r {
                let pr = row(state, rep, o * i);
                let rr = row(reference, rep, o * i);
                // Steps 1–3 for every sample (its own stream), then one product for the batch.
                let mut streams: Vec<Stream> =
                    (0..b).map(|bb| st.open(rep, bb as u64, tag, sub)).collect();
                let mut scales = vec![1.0; b];
                for (bb, ((ub, s), sc)) in u
                    .chunks_mut(len_x)
                    .zip(streams.iter_mut())
                    .zip(scales.iter_mut())
                    .enumerate()
                {
                    let xs = row(x, rep * b + bb, len_x);
                    if io.is_perfect {
                        ub.copy_from_slice(xs);
                        continue;
                    }
                    *sc = nm_scale(io, xs);
                    if *sc == 0.0 {
                        ub.fill(0.0);
                    } else {
                        input_stage(io, xs, *sc, 1.0, ub, s);
                    }
                }
                for (bb, ub) in u.chunks(len_x).enumerate() {
                    for (j, v) in ub.iter().enumerate() {
                        if let Some(dst) = ut.get_mut(j * b + bb) {
                            *dst = *v;
                        }
                    }
                }
                mvm_batch(pr, rr, o, i, transpose, b, &ut, &mut yt, par);
                let Some(orep) = out.get_mut(rep * b * len_y..(rep + 1) * b * len_y) else {
                    continue;
                };
                for (bb, y) in orep.chunks_mut(len_y).enumerate() {
                    for (k, v) in y.iter_mut().enumerate() {
                        *v = yt.get(k * b + bb).copied().unwrap_or(0.0);
                    }
                }
                // Steps 5–7 per sample; the rare bound-management repeats run one sample at a time.
                for (bb, ((y, s), &sc)) in orep
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
                    let xs = row(x, rep * b + bb, len_x);
                    let mut factor = 1.0;
                    let mut saturated = output_stage(io, y, s);
                    let Some(ub) = u.get_mut(bb * len_x..(bb + 1) * len_x) else {
                        continue;
                    };
                    while repeat_pass(io, bm_allowed, saturated, factor) {
                        factor *= 2.0;
                        input_stage(io, xs, sc, factor, ub, s);
                        mvm_one(pr, rr, i, transpose, ub, y);
                        saturated = output_stage(io, y, s);
                    }
                    let k = sc * factor * io.out_scale;
                    for v in y.iter_mut() {
                        *v *= k;
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
