//! One pulse and trains of pulses on an element (shared/theory.md §1.1, docs/KERNEL_SPEC.md §5):
//! step·q±(w) with cycle noise, clipped after every pulse; trains of many elements fired
//! interleaved (`Pulser::fire_lanes`) with exactly the arithmetic of one at a time.

use crate::family::{specialise, Family};
use crate::rng::Stream;
use crate::simd;
use crate::spec::{C2cMode, DeviceSpec};
use crate::variation::ElemMap;

/// Trains fired together by [`Pulser::fire_lanes`] at most: bounds the scratch memory (trains
/// and their noise) by this many elements' pulses, whatever the tile size.
pub(crate) const LANE_BLOCK: usize = 1024;

/// One element's pending pulse train in [`Pulser::fire_lanes`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Lane {
    /// Column.
    pub(crate) j: u32,
    /// Pulses still to fire.
    pub(crate) left: u32,
    /// Index of the next pulse's normal.
    pub(crate) off: u32,
    /// Potentiation (true) or depression.
    pub(crate) up: bool,
}

/// Number of standard deviations the aggregated n-pulse result keeps from both bounds
/// ([`Pulser::aggregate_moments`], docs/KERNEL_SPEC.md §5): the chance that the per-pulse
/// train would have clipped is then at most 2·n·Φ̄(10) < 2·1024·7.7e−24 < 2e−20, far below one
/// double rounding (2⁻⁵³ ≈ 1.1e−16).
pub(crate) const AGGREGATE_KAPPA: f64 = 10.0;

/// One element's train sampled in one draw ([`Pulser::aggregate_moments`]): the result is
/// `clip(mean + sd·normals[off], lo, hi)`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Aggregated {
    /// Column.
    pub(crate) j: u32,
    /// Index of the train's one normal.
    pub(crate) off: u32,
    pub(crate) mean: f64,
    pub(crate) sd: f64,
}

/// Reusable buffers of [`Pulser::fire_lanes`]: the trains of one row's call, their cycle noise,
/// and the trains sorted by length.
#[derive(Default)]
pub(crate) struct LaneScratch {
    /// The trains are `lanes[..count]` (the vector is only ever grown, to reuse it).
    pub(crate) lanes: Vec<Lane>,
    pub(crate) count: usize,
    pub(crate) normals: Vec<f64>,
    /// Trains sampled in one draw, `aggregated[..n_aggregated]`, applied by
    /// [`Pulser::fire_lanes`] before the lanes (the vector is only ever grown).
    pub(crate) aggregated: Vec<Aggregated>,
    pub(crate) n_aggregated: usize,
    /// A block's trains while their moments are computed ([`Pulser::aggregate_block`]).
    pub(crate) block: AggBlock,
    /// `alive[k]`: trains with more than k pulses (a prefix of `cols`, sorted by length).
    alive: Vec<usize>,
    hist: Vec<usize>,
    cols: Columns,
}

/// The trains' elements as columns of values by decreasing train length, the layout
/// `simd::fire_rounds` fires in vectors (every vector is only ever grown, to reuse it).
#[derive(Default)]
struct Columns {
    /// Column of the element in the row.
    j: Vec<u32>,
    /// Weights, written back after the rounds.
    w: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// The element's step in the train's direction (up or dn).
    step: Vec<f64>,
    up: Vec<bool>,
    /// Index of the train's first normal.
    off: Vec<u32>,
    /// Scratch: one round's normals.
    xi: Vec<f64>,
}

impl Columns {
    /// Room for `n` trains.
    fn resize(&mut self, n: usize) {
        for v in [
            &mut self.w,
            &mut self.lo,
            &mut self.hi,
            &mut self.step,
            &mut self.xi,
        ] {
            v.resize(n, 0.0);
        }
        self.j.resize(n, 0);
        self.up.resize(n, false);
        self.off.resize(n, 0);
    }

    /// The columns as slices ([`ColumnsView::set`] writes them).
    fn view(&mut self) -> ColumnsView<'_> {
        ColumnsView {
            j: &mut self.j,
            w: &mut self.w,
            lo: &mut self.lo,
            hi: &mut self.hi,
            step: &mut self.step,
            up: &mut self.up,
            off: &mut self.off,
        }
    }
}

/// [`Columns`] borrowed as slices.
struct ColumnsView<'a> {
    j: &'a mut [u32],
    w: &'a mut [f64],
    lo: &'a mut [f64],
    hi: &'a mut [f64],
    step: &'a mut [f64],
    up: &'a mut [bool],
    off: &'a mut [u32],
}

impl ColumnsView<'_> {
    /// Puts `lane`'s train and element (read from the row) at position `at`.
    #[inline(always)]
    fn set(&mut self, at: usize, lane: &Lane, prow: &[f64], mrow: &[ElemMap]) {
        let j = lane.j as usize;
        let (Some(&p), Some(m)) = (prow.get(j), mrow.get(j)) else {
            return;
        };
        let slots = (
            self.j.get_mut(at),
            self.w.get_mut(at),
            self.lo.get_mut(at),
            self.hi.get_mut(at),
            self.step.get_mut(at),
            self.up.get_mut(at),
            self.off.get_mut(at),
        );
        if let (Some(jj), Some(w), Some(lo), Some(hi), Some(step), Some(up), Some(off)) = slots {
            (*jj, *w, *lo, *hi) = (lane.j, p, m.lo, m.hi);
            *step = [m.dn, m.up][usize::from(lane.up)];
            (*up, *off) = (lane.up, lane.off);
        }
    }
}

impl LaneScratch {
    /// Appends a train of `n` pulses on column `j`, its noise at the next `n` normals.
    pub(crate) fn push(&mut self, j: usize, n: u64, up: bool) {
        let off = self
            .lanes
            .get(..self.count)
            .and_then(<[Lane]>::last)
            .map_or(0, |l| l.off + l.left);
        let lane = Lane {
            j: j as u32,
            left: n as u32,
            off,
            up,
        };
        if let Some(slot) = self.lanes.get_mut(self.count) {
            *slot = lane;
        } else {
            self.lanes.push(lane);
        }
        self.count += 1;
    }

    /// Loads the trains and their elements into `cols` by decreasing length (counting sort;
    /// any order of the elements gives the same result, as each element's pulses stay in its
    /// own order) and fills `alive`.
    fn load_sorted(&mut self, prow: &[f64], mrow: &[ElemMap]) {
        let LaneScratch {
            lanes,
            count,
            alive,
            hist,
            cols,
            ..
        } = self;
        let lanes = lanes.get(..*count).unwrap_or(&[]);
        cols.resize(lanes.len());
        alive.clear();
        // A fold with `u32::max` compiles without branches; `Iterator::max` compiled to a
        // compare and branch per lane. Every lane has at least one pulse, so a longest train
        // of one means they all have one.
        let longest = lanes.iter().fold(0u32, |m, l| m.max(l.left)) as usize;
        if longest == 1 {
            // One pulse each (BL 1, sparse updates): one round, nothing to sort.
            let mut view = cols.view();
            for (at, lane) in lanes.iter().enumerate() {
                view.set(at, lane, prow, mrow);
            }
            alive.push(lanes.len());
        } else if longest <= 4 * lanes.len() + 64 {
            // Four interleaved histograms (lane k counts in histogram k % 4): most lanes share
            // a length, and one counter would make every increment wait for the previous one.
            hist.clear();
            hist.resize(4 * (longest + 1), 0);
            for (k, l) in lanes.iter().enumerate() {
                if let Some(h) = hist.get_mut(4 * l.left as usize + k % 4) {
                    *h += 1;
                }
            }
            // alive[k] = lanes longer than k, and the start of each (length, histogram) block,
            // longest first.
            alive.resize(longest, 0);
            let mut at = 0;
            for (len, quad) in hist.chunks_exact_mut(4).enumerate().rev() {
                for h in quad {
                    let c = *h;
                    *h = at;
                    at += c;
                }
                if let Some(a) = len.checked_sub(1).and_then(|k| alive.get_mut(k)) {
                    *a = at;
                }
            }
            // The columns as local slices, so that their pointers and lengths stay in
            // registers through the scattered writes (through `cols` they are reloaded on
            // every write: a store to a vector's buffer might, for the compiler, change the
            // other vectors' headers).
            let mut view = cols.view();
            for (k, l) in lanes.iter().enumerate() {
                if let Some(h) = hist.get_mut(4 * l.left as usize + k % 4) {
                    view.set(*h, l, prow, mrow);
                    *h += 1;
                }
            }
        } else {
            let mut sorted = lanes.to_vec();
            sorted.sort_unstable_by_key(|l| std::cmp::Reverse(l.left));
            let mut view = cols.view();
            for (at, lane) in sorted.iter().enumerate() {
                view.set(at, lane, prow, mrow);
            }
            // alive[k] = number of lanes with left > k: walk the sorted lengths from the end.
            let mut n = sorted.len();
            for k in 0..longest {
                while n > 0 && sorted.get(n - 1).is_some_and(|l| l.left as usize <= k) {
                    n -= 1;
                }
                alive.push(n);
            }
        }
    }
}

/// The per-call constants of the pulse kernel.
#[derive(Clone, Copy)]
pub(crate) struct Pulser {
    family: Family,
    sigma: f64,
    mult: bool,
    /// Trains of two or more pulses may be sampled in one draw ([`Pulser::aggregate_moments`]).
    aggregate: bool,
}

impl Pulser {
    /// The per-pulse kernel (no aggregation).
    pub(crate) fn new(d: &DeviceSpec) -> Self {
        Pulser {
            family: d.family,
            sigma: d.dw_min_std,
            mult: d.c2c == C2cMode::Multiplicative,
            aggregate: false,
        }
    }

    /// The kernel of an update mode with the `aggregate` switch: aggregation is on when asked
    /// and exact for the device (an affine family, additive noise with σ > 0; KERNEL_SPEC §5).
    pub(crate) fn with_aggregate(d: &DeviceSpec, aggregate: bool) -> Self {
        let mut p = Pulser::new(d);
        p.aggregate =
            aggregate && d.dw_min_std > 0.0 && d.c2c == C2cMode::Additive && is_affine(d.family);
        p
    }

    /// True when trains may be sampled in one draw ([`Pulser::aggregate_moments`]).
    pub(crate) fn aggregates(&self) -> bool {
        self.aggregate
    }

    /// Mean and standard deviation of the state after `n` pulses of direction `up` from `w`,
    /// when the train may be sampled in one draw: aggregation on, `n >= 2`, the family's pulse
    /// map affine with `0 <= β < 1`, and the mean path widened by [`AGGREGATE_KAPPA`] standard
    /// deviations inside `[lo, hi]` (the guard band); else `None` and the train is fired pulse
    /// by pulse. With the map `w ↦ w·r + c` (noise aside, [`affine_map`]) and r2 = r·r:
    /// `m ← m·r + c`, `v ← v·r2 + 1` n times from (w, 0) (so m = w rⁿ + c Σ_{k<n} rᵏ and
    /// v = Σ_{k<n} r²ᵏ), `sd = (step·σ)·sqrt(v)` (docs/KERNEL_SPEC.md §5).
    #[inline]
    pub(crate) fn aggregate_moments(
        &self,
        w: f64,
        m: &ElemMap,
        up: bool,
        n: u64,
    ) -> Option<(f64, f64)> {
        if !self.aggregate || n < 2 {
            return None;
        }
        let step = [m.dn, m.up][usize::from(up)];
        let (r, c) = affine_map(self.family, m.lo, m.hi, step, up)?;
        let r2 = r * r;
        let (mut mean, mut v) = (w, 0.0);
        for _ in 0..n {
            mean = mean * r + c;
            v = v * r2 + 1.0;
        }
        let sd = (step * self.sigma) * v.sqrt();
        // A NaN anywhere falls back to the per-pulse path.
        inside_band(w, mean, sd, m.lo, m.hi).then_some((mean, sd))
    }

    /// [`Pulser::aggregate_moments`] of every train in `b` (results in `b.mean`, `b.sd`,
    /// `b.ok`), vectorised; bit for bit the same values.
    pub(crate) fn aggregate_block(&self, b: &mut AggBlock) {
        block_moments(self.family, self.sigma, self.aggregate, b);
    }

    /// `n` pulses of one sign on one element, each with q at the current state, cycle noise
    /// and clipping: shared/theory.md §1.1 (clip after every pulse, not after the train).
    #[inline]
    pub(crate) fn fire(&self, p: &mut f64, m: &ElemMap, up: bool, n: u64, s: &mut Stream) {
        // Dispatch on the family once per train, so the loop is compiled for one response with
        // its constants folded in; each pulse's noise is drawn just before it.
        specialise!(self.family, f => {
            for _ in 0..n {
                let xi = if self.sigma > 0.0 { s.normal() } else { 0.0 };
                *p = self.pulse(f, *p, m, up, xi);
            }
        });
    }

    /// Fires one pulse on element `base + col` of each `(col, x_pos)` of `block` whose
    /// coincidence count is 1 (the counts are 0 or 1), in block order, the k-th such pulse with
    /// cycle noise `normals[k]` (unused without noise); the direction is up where `x_pos` differs
    /// from `d_pos`. Each element sees the arithmetic of [`Pulser::fire`] for a train of one
    /// pulse, without being staged as a lane (`fire_lanes`): at BL 1, every train of a sparse
    /// layer is one pulse. The elements are distinct (one row's columns).
    pub(crate) fn fire_singles(
        &self,
        prow: &mut [f64],
        mrow: &[ElemMap],
        (block, counts): (&[(u32, bool)], &[u32]),
        (d_pos, base): (bool, usize),
        normals: &[f64],
    ) {
        specialise!(self.family, f => {
            let mut k = 0;
            for (&(col, x_pos), &n) in block.iter().zip(counts) {
                if n == 0 {
                    continue;
                }
                let j = base + col as usize;
                let xi = normals.get(k).copied().unwrap_or(0.0);
                k += 1;
                if let (Some(p), Some(m)) = (prow.get_mut(j), mrow.get(j)) {
                    *p = self.pulse(f, *p, m, x_pos != d_pos, xi);
                }
            }
        });
    }

    /// Fires every lane's train on a row (`scratch.lanes[..count]`): lane `l` gives element
    /// `l.j` `l.left` pulses whose cycle noise is `normals[l.off..l.off + l.left]` (drawn
    /// beforehand, in lane order, from the stream [`Pulser::fire`] would have drawn them from).
    /// Each element sees exactly the arithmetic of `fire`, so the result is bit for bit the
    /// same; the pulses of different elements are interleaved (round k fires pulse k of every
    /// train longer than k, as one loop over the trains sorted by length, vectorised for the
    /// CPU by `simd::fire_rounds`) so that their dependency chains overlap. The lanes' elements
    /// must be distinct. Empties the lanes and the noise.
    pub(crate) fn fire_lanes(&self, prow: &mut [f64], mrow: &[ElemMap], scratch: &mut LaneScratch) {
        // Trains sampled in one draw first (their elements are not among the lanes').
        let n_agg = std::mem::take(&mut scratch.n_aggregated);
        for a in scratch.aggregated.get(..n_agg).unwrap_or(&[]) {
            let j = a.j as usize;
            let xi = scratch.normals.get(a.off as usize).copied().unwrap_or(0.0);
            if let (Some(p), Some(m)) = (prow.get_mut(j), mrow.get(j)) {
                *p = clip(a.mean + a.sd * xi, m.lo, m.hi);
            }
        }
        if scratch.count == 0 {
            scratch.normals.clear();
            return;
        }
        // The trains' elements as columns of values (sorted by length), fired round by round
        // in vectors of elements (`simd::fire_rounds`), then written back.
        scratch.load_sorted(prow, mrow);
        let LaneScratch {
            alive,
            normals,
            cols,
            ..
        } = scratch;
        let Columns {
            j,
            w,
            lo,
            hi,
            step,
            up,
            off,
            xi,
        } = cols;
        simd::fire_rounds(self, w, lo, hi, step, up, off, alive, normals, xi);
        for (&j, &v) in j.iter().zip(w.iter()) {
            if let Some(p) = prow.get_mut(j as usize) {
                *p = v;
            }
        }
        scratch.count = 0;
        scratch.normals.clear();
    }

    /// The response family.
    pub(crate) fn family(&self) -> Family {
        self.family
    }

    /// True when pulses have cycle noise (and so draw normals).
    pub(crate) fn noisy(&self) -> bool {
        self.sigma > 0.0
    }

    /// One pulse from `w` with cycle noise `xi` (unused without noise): step·q±(w), the noise
    /// multiplicative or additive, then the clip (shared/theory.md §1.1); the direction is
    /// picked without branches. Every pulse path of the kernel goes through here.
    #[inline(always)]
    pub(crate) fn pulse(&self, f: Family, w: f64, m: &ElemMap, up: bool, xi: f64) -> f64 {
        let step = [m.dn, m.up][usize::from(up)];
        self.pulse_parts(f, w, m.lo, m.hi, step, up, xi)
    }

    /// [`Pulser::pulse`] with the element's bounds and its step in the pulse's direction
    /// passed as values (the form the vectorised rounds of `simd::fire_rounds` load).
    #[inline(always)]
    pub(crate) fn pulse_parts(
        &self,
        f: Family,
        w: f64,
        lo: f64,
        hi: f64,
        step: f64,
        up: bool,
        xi: f64,
    ) -> f64 {
        let q = f.q_dir(w, lo, hi, up);
        let mag = if self.sigma > 0.0 {
            if self.mult {
                step * (q * (1.0 + self.sigma * xi))
            } else {
                step * (q + self.sigma * xi)
            }
        } else {
            step * q
        };
        // w − mag is w + (−mag) exactly (IEEE 754), so one add serves both signs; the sign goes
        // in by xor, as the direction is random and a branch would mispredict.
        let w = w + f64::from_bits(mag.to_bits() ^ (u64::from(!up) << 63));
        clip(w, lo, hi)
    }

    /// Appends the cycle noise of `n` pulses (n normals, none without noise) to `normals`.
    #[inline]
    pub(crate) fn draw_noise(&self, n: u64, s: &mut Stream, normals: &mut Vec<f64>) {
        if self.sigma > 0.0 {
            let start = normals.len();
            normals.resize(start + n as usize, 0.0);
            if let Some(tail) = normals.get_mut(start..) {
                s.fill_normals(tail);
            }
        }
    }
}

/// True for the families whose q±(w) is affine in w (KERNEL_SPEC §2): ideal, linear_step,
/// skew_linear, soft_bounds.
pub(crate) fn is_affine(f: Family) -> bool {
    matches!(
        f,
        Family::Ideal
            | Family::LinearStep { .. }
            | Family::SkewLinear { .. }
            | Family::SoftBounds { .. }
    )
}

/// The pulse map of an affine family, `w ↦ w·r + c` without noise, for an element with bounds
/// `lo < hi` and step `step` in direction `up`, when it contracts (`β = 1 − r` in `[0, 1)`):
/// with b the bound in the pulse's direction, β = step/|b − sp| (linear_step),
/// (step·(1 ± c))/|b| (skew_linear), (step·α±)/|b| (soft_bounds) and c = β·b, whose fixed point
/// is b; ideal has r = 1 and c = ±step. `None` for the other families (KERNEL_SPEC §5).
#[inline]
pub(crate) fn affine_map(f: Family, lo: f64, hi: f64, step: f64, up: bool) -> Option<(f64, f64)> {
    let (r, c, valid) = affine_parts(f, lo, hi, step, up);
    valid.then_some((r, c))
}

/// [`affine_map`] without branches on the values (for vector loops): `(r, c, valid)`.
#[inline(always)]
fn affine_parts(f: Family, lo: f64, hi: f64, step: f64, up: bool) -> (f64, f64, bool) {
    let b = [lo, hi][usize::from(up)];
    let beta = match f {
        Family::Ideal => return (1.0, [-step, step][usize::from(up)], true),
        Family::LinearStep { sp } => step / (b - sp).abs(),
        Family::SkewLinear { c } => (step * [1.0 - c, 1.0 + c][usize::from(up)]) / b.abs(),
        Family::SoftBounds {
            alpha_up,
            alpha_down,
        } => (step * [alpha_down, alpha_up][usize::from(up)]) / b.abs(),
        // Not affine in w (a new family is per-pulse until it says otherwise).
        _ => return (1.0, 0.0, false),
    };
    (1.0 - beta, beta * b, (0.0..1.0).contains(&beta))
}

/// The guard band of [`Pulser::aggregate_moments`]: true when `min(w, mean) − κ·sd >= lo` and
/// `max(w, mean) + κ·sd <= hi` (false if anything is NaN).
#[inline(always)]
fn inside_band(w: f64, mean: f64, sd: f64, lo: f64, hi: f64) -> bool {
    let low = mean < w;
    let (near, far) = ([w, mean][usize::from(low)], [mean, w][usize::from(low)]);
    let band = AGGREGATE_KAPPA * sd;
    near - band >= lo && far + band <= hi
}

/// One block's trains as columns of values for [`Pulser::aggregate_block`] (the vectors are
/// only ever grown, to reuse them).
#[derive(Default)]
pub(crate) struct AggBlock {
    pub(crate) j: Vec<u32>,
    pub(crate) n: Vec<u32>,
    pub(crate) up: Vec<bool>,
    w: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    step: Vec<f64>,
    r: Vec<f64>,
    r2: Vec<f64>,
    c: Vec<f64>,
    v: Vec<f64>,
    /// Results: the train's mean and sd, and whether it aggregates.
    pub(crate) mean: Vec<f64>,
    pub(crate) sd: Vec<f64>,
    pub(crate) ok: Vec<bool>,
    /// Trains held: the first `len` entries of every vector.
    len: usize,
}

impl AggBlock {
    /// Room for `n` trains (only ever grown); the block then holds `len` of them.
    pub(crate) fn reserve(&mut self, n: usize) {
        if self.j.len() < n {
            self.j.resize(n, 0);
            self.n.resize(n, 0);
            self.up.resize(n, false);
            for v in [
                &mut self.w,
                &mut self.lo,
                &mut self.hi,
                &mut self.step,
                &mut self.r,
                &mut self.r2,
                &mut self.c,
                &mut self.v,
                &mut self.mean,
                &mut self.sd,
            ] {
                v.resize(n, 0.0);
            }
            self.ok.resize(n, false);
        }
    }

    /// Writes the train of `n` pulses of direction `up` on column `j` (state `w`, map `m`) at
    /// position `at` (< the size given to [`AggBlock::reserve`]).
    #[inline(always)]
    pub(crate) fn set(&mut self, at: usize, j: u32, n: u32, up: bool, w: f64, m: &ElemMap) {
        let slots = (
            self.j.get_mut(at),
            self.n.get_mut(at),
            self.up.get_mut(at),
            self.w.get_mut(at),
            self.lo.get_mut(at),
            self.hi.get_mut(at),
            self.step.get_mut(at),
        );
        if let (Some(jj), Some(nn), Some(u), Some(ww), Some(lo), Some(hi), Some(st)) = slots {
            (*jj, *nn, *u, *ww, *lo, *hi) = (j, n, up, w, m.lo, m.hi);
            *st = if up { m.up } else { m.dn };
        }
    }

    /// The block holds the first `len` trains written.
    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(self.j.len());
    }
}

/// [`Pulser::aggregate_moments`] of every train of `b` at once, the same arithmetic element by
/// element (so the same bits), in loops without branches on the values that the compiler
/// vectorises for the CPU (runtime dispatch; IEEE add, sub, mul, div, sqrt, compare and select
/// only, no FMA, so every target gives the same bits). The recursion runs in chunks of 16
/// trains up to the chunk's longest train, shorter trains masked.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2"))]
fn block_moments(f: Family, sigma: f64, on: bool, b: &mut AggBlock) {
    block_moments_body(f, sigma, on, b);
}

/// The body of [`block_moments`], inlined into each target's copy (and called alone, on the
/// baseline target, by the tests).
#[inline(always)]
fn block_moments_body(f: Family, sigma: f64, on: bool, b: &mut AggBlock) {
    const CHUNK: usize = 16;
    let len = b.len;
    let AggBlock {
        n,
        up,
        w,
        lo,
        hi,
        step,
        r,
        r2,
        c,
        v,
        mean,
        sd,
        ok,
        ..
    } = b;
    let (Some(n), Some(up), Some(w), Some(lo), Some(hi), Some(step)) = (
        n.get(..len),
        up.get(..len),
        w.get(..len),
        lo.get(..len),
        hi.get(..len),
        step.get(..len),
    ) else {
        return;
    };
    let (Some(r), Some(r2), Some(c), Some(v), Some(mean), Some(sd), Some(ok)) = (
        r.get_mut(..len),
        r2.get_mut(..len),
        c.get_mut(..len),
        v.get_mut(..len),
        mean.get_mut(..len),
        sd.get_mut(..len),
        ok.get_mut(..len),
    ) else {
        return;
    };
    specialise!(f, f => {
        let maps = lo.iter().zip(hi).zip(step).zip(up).zip(n);
        let outs = r.iter_mut().zip(r2.iter_mut()).zip(c.iter_mut()).zip(ok.iter_mut());
        for (((((&lo, &hi), &step), &up), &n), (((r, r2), c), ok)) in maps.zip(outs) {
            let (rr, cc, valid) = affine_parts(f, lo, hi, step, up);
            (*r, *r2, *c, *ok) = (rr, rr * rr, cc, on && valid && n >= 2);
        }
    });
    // The recursion on fixed-size chunks (padded with empty trains), so that the round loop
    // is a straight vector loop with the live trains selected.
    let chunks = mean
        .chunks_mut(CHUNK)
        .zip(v.chunks_mut(CHUNK))
        .zip(w.chunks(CHUNK))
        .zip(r.chunks(CHUNK))
        .zip(r2.chunks(CHUNK))
        .zip(c.chunks(CHUNK))
        .zip(n.chunks(CHUNK));
    for ((((((mo, vo), ws), rs), r2s), cs), ns) in chunks {
        let k = ns.len();
        let mut m = [0.0; CHUNK];
        let mut vv = [0.0; CHUNK];
        let (mut ra, mut r2a, mut ca, mut na) =
            ([1.0; CHUNK], [1.0; CHUNK], [0.0; CHUNK], [0u32; CHUNK]);
        if let (Some(a), Some(b2), Some(c2), Some(d), Some(e)) = (
            m.get_mut(..k),
            ra.get_mut(..k),
            r2a.get_mut(..k),
            ca.get_mut(..k),
            na.get_mut(..k),
        ) {
            a.copy_from_slice(ws);
            b2.copy_from_slice(rs);
            c2.copy_from_slice(r2s);
            d.copy_from_slice(cs);
            e.copy_from_slice(ns);
        }
        let longest = na.iter().copied().max().unwrap_or(0);
        for round in 0..longest {
            for t in 0..CHUNK {
                let live = na[t] > round;
                let (m1, v1) = (m[t] * ra[t] + ca[t], vv[t] * r2a[t] + 1.0);
                m[t] = if live { m1 } else { m[t] };
                vv[t] = if live { v1 } else { vv[t] };
            }
        }
        mo.copy_from_slice(m.get(..k).unwrap_or(&[]));
        vo.copy_from_slice(vv.get(..k).unwrap_or(&[]));
    }
    for ((sd, &v), &step) in sd.iter_mut().zip(v.iter()).zip(step) {
        *sd = (step * sigma) * v.sqrt();
    }
    let vals = w.iter().zip(mean.iter()).zip(sd.iter()).zip(lo).zip(hi);
    for (((((&w, &mean), &sd), &lo), &hi), ok) in vals.zip(ok.iter_mut()) {
        *ok = *ok && inside_band(w, mean, sd, lo, hi);
    }
}

/// Smallest β = 1 − r the windowed sampler aggregates (KERNEL_SPEC §5): its variance
/// `g + (v − g)·r^(2n)` with `g = (step·σ)²/((1 − r)(1 + r))` cancels to a relative error of
/// about ε/β, at most 2⁻²⁶ ≈ 1.5·10⁻⁸ here; maps closer to the identity fire pulse by pulse.
pub(crate) const WINDOW_MIN_BETA: f64 = 1.0 / 67_108_864.0;

/// One row's slices for [`end_moments`], all `i` long: the moments, bounds, normals spread
/// over the columns and the row's states.
pub(crate) struct EndRow<'a> {
    m: &'a mut [f64],
    v: &'a mut [f64],
    lo: &'a [f64],
    hi: &'a [f64],
    xi: &'a [f64],
    p: &'a mut [f64],
}

/// The states at a window's end: where v > 0, `p = m = clip(m + sqrt(v)·ξ, lo, hi)` and v = 0,
/// else `p = m` (v unchanged), the element-by-element form's operations in loops without
/// branches on the values that the compiler vectorises (runtime dispatch; IEEE sqrt, add,
/// mul, compare and select only, no FMA: every target gives the same bits).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2"))]
fn end_moments<'a>(row: EndRow<'a>) {
    end_moments_body(row);
}

/// The body of [`end_moments`], inlined into each target's copy (and called alone, on the
/// baseline target, by the tests).
#[inline(always)]
fn end_moments_body(row: EndRow<'_>) {
    let EndRow {
        m,
        v,
        lo,
        hi,
        xi,
        p,
    } = row;
    let els = m
        .iter_mut()
        .zip(v.iter_mut())
        .zip(lo.iter().zip(hi.iter()))
        .zip(xi.iter().zip(p.iter_mut()));
    for (((m, v), (&lo, &hi)), (&xi, p)) in els {
        let (mt, vt) = (*m, *v);
        let live = vt > 0.0;
        let w = clip(mt + vt.sqrt() * xi, lo, hi);
        let out = if live { w } else { mt };
        (*p, *m) = (out, out);
        *v = if live { 0.0 } else { vt };
    }
}

/// The per-direction outputs of [`load_maps`] (0 down, 1 up), one value per element.
struct MapsOut<'a> {
    lo: &'a mut [f64],
    hi: &'a mut [f64],
    r: [&'a mut [f64]; 2],
    b: [&'a mut [f64]; 2],
    g: [&'a mut [f64]; 2],
}

/// [`WindowScratch::load`]'s constants of every element's map in both directions, in one pass
/// over the maps: with `(r, c, valid)` = [`affine_parts`], r where the map may be aggregated
/// and NaN where it may not (see [`map_one`]), g = (step·σ)²/((1 − r)(1 + r)) (ideal:
/// (step·σ)²), lo and hi, and for the ideal family alone the signed step c in b (the other
/// families' fixed point is the bound in the train's direction, which the moments read from
/// lo and hi; their b is left as it was). The family's choice is made once, outside the element loop, and the loop has no
/// branch on the values, so the compiler vectorises its divisions for the CPU (runtime
/// dispatch; IEEE operations only, no FMA: every target gives the bits of the
/// element-by-element form).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2"))]
fn load_maps<'a>(f: Family, sigma: f64, mrow: &[ElemMap], out: MapsOut<'a>) {
    load_maps_body(f, sigma, mrow, out);
}

/// The body of [`load_maps`], inlined into each target's copy (and called alone, on the
/// baseline target, by the tests).
#[inline(always)]
fn load_maps_body(f: Family, sigma: f64, mrow: &[ElemMap], out: MapsOut<'_>) {
    let MapsOut { lo, hi, r, b, g } = out;
    let [r0, r1] = r;
    let [g0, g1] = g;
    let outs = lo
        .iter_mut()
        .zip(hi.iter_mut())
        .zip(r0.iter_mut().zip(r1.iter_mut()))
        .zip(g0.iter_mut().zip(g1.iter_mut()));
    // Both directions in one pass over the maps, each map read once. β's factor per
    // direction and family, as `affine_parts` computes it (the factor's `1 ± c` is the same
    // value whether computed here or per element).
    let affine = match f {
        Family::LinearStep { sp } => Some((1.0, 1.0, sp)),
        Family::SkewLinear { c } => Some((1.0 - c, 1.0 + c, 0.0)),
        Family::SoftBounds {
            alpha_up,
            alpha_down,
        } => Some((alpha_down, alpha_up, 0.0)),
        _ => None,
    };
    match (f, affine) {
        (Family::Ideal, _) => {
            let [b0, b1] = b;
            let fixed = b0.iter_mut().zip(b1.iter_mut());
            for ((m, (((lo, hi), (r0, r1)), (g0, g1))), (b0, b1)) in
                mrow.iter().zip(outs).zip(fixed)
            {
                (*lo, *hi) = (m.lo, m.hi);
                // `[-step, step][up]`: a sign flip, exact.
                (*r0, *b0, *g0) = (1.0, -m.dn, (m.dn * sigma) * (m.dn * sigma));
                (*r1, *b1, *g1) = (1.0, m.up, (m.up * sigma) * (m.up * sigma));
            }
        }
        (_, Some((k0, k1, sp))) => {
            let linear = matches!(f, Family::LinearStep { .. });
            for (m, (((lo, hi), (r0, r1)), (g0, g1))) in mrow.iter().zip(outs) {
                (*lo, *hi) = (m.lo, m.hi);
                // LinearStep: step/|bound − sp|; the others (step·k)/|bound|.
                let beta = |step: f64, k: f64, bound: f64| {
                    if linear {
                        step / (bound - sp).abs()
                    } else {
                        (step * k) / bound.abs()
                    }
                };
                (*r0, *g0) = map_one(beta(m.dn, k0, m.lo), m.dn, sigma);
                (*r1, *g1) = map_one(beta(m.up, k1, m.hi), m.up, sigma);
            }
        }
        _ => {
            // Not affine in w: `affine_parts`' (1, 0, false), so r is NaN (never
            // aggregated), and the formula's g with r = 1.
            let g_of = |step: f64| {
                let rr = 1.0;
                ((step * sigma) * (step * sigma)) / ((1.0 - rr) * (1.0 + rr))
            };
            for (m, (((lo, hi), (r0, r1)), (g0, g1))) in mrow.iter().zip(outs) {
                (*lo, *hi) = (m.lo, m.hi);
                (*r0, *g0) = (f64::NAN, g_of(m.dn));
                (*r1, *g1) = (f64::NAN, g_of(m.up));
            }
        }
    }
}

/// One element and direction of a contracting affine map with β `be` and step `step`: r =
/// 1 − β where the map may be aggregated (0 ≤ β < 1 and 1 − r ≥ [`WINDOW_MIN_BETA`]) and NaN
/// where it may not, and g = (step·σ)²/((1 − r)(1 + r)) of the true r. A NaN r makes the
/// powers rⁿ of every train of n ≥ 1 pulses NaN, so [`chunk_moments`]' guard refuses the
/// train: the map's flag travels in r, and the moments read no array of flags.
#[inline(always)]
fn map_one(be: f64, step: f64, sigma: f64) -> (f64, f64) {
    let rr = 1.0 - be;
    let s2 = (step * sigma) * (step * sigma);
    let ok = (0.0..1.0).contains(&be) && 1.0 - rr >= WINDOW_MIN_BETA;
    (
        if ok { rr } else { f64::NAN },
        s2 / ((1.0 - rr) * (1.0 + rr)),
    )
}

/// The windowed sampler's buffers for a group of rows (KERNEL_SPEC §5, "Windows of samples"):
/// per element the constants of its pulse map in both directions and the moments of its state
/// while a window is in flight, and the dense per-row buffers of one sample. Every vector is
/// only ever grown, to reuse it; nothing carries from one group to the next.
#[derive(Default)]
pub(crate) struct WindowScratch {
    /// Mean and variance of each element's state since the window began (or since its last
    /// per-pulse train): the state is `m` exactly when `v` is 0.
    pub(crate) m: Vec<f64>,
    pub(crate) v: Vec<f64>,
    /// Per direction (0 down, 1 up): r where the element's map may be aggregated (affine,
    /// 0 < β < 1; ideal: always) and NaN where it may not, the ideal family's signed step c
    /// (its fixed point; the other families' is the bound in the direction, lo or hi, and b
    /// is not written for them) and the stationary variance g = (step·σ)²/((1 − r)(1 + r))
    /// (ideal: (step·σ)²).
    r: [Vec<f64>; 2],
    b: [Vec<f64>; 2],
    g: [Vec<f64>; 2],
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// One row's sample: pulses and direction per column, and the columns whose train left
    /// the guard band (fired pulse by pulse).
    pub(crate) n: Vec<u32>,
    pub(crate) up: Vec<bool>,
    pub(crate) fail: Vec<bool>,
    /// The normals of one row's window end, and the same spread over the row's columns.
    pub(crate) normals: Vec<f64>,
    xi: Vec<f64>,
}

impl WindowScratch {
    /// Loads the map constants of the group's elements `mrow` (once per group and call).
    pub(crate) fn load(&mut self, pulser: &Pulser, mrow: &[ElemMap]) {
        let len = mrow.len();
        for v in [&mut self.m, &mut self.v, &mut self.lo, &mut self.hi] {
            v.resize(len, 0.0);
        }
        for d in 0..2 {
            self.r[d].resize(len, 0.0);
            self.b[d].resize(len, 0.0);
            self.g[d].resize(len, 0.0);
        }
        let WindowScratch {
            r: [r0, r1],
            b: [b0, b1],
            g: [g0, g1],
            lo,
            hi,
            ..
        } = self;
        let out = MapsOut {
            lo,
            hi,
            r: [r0, r1],
            b: [b0, b1],
            g: [g0, g1],
        };
        load_maps(pulser.family, pulser.sigma, mrow, out);
    }

    /// Starts a window on the group's states `prow`: every element exact (v = 0).
    pub(crate) fn start(&mut self, prow: &[f64]) {
        let len = prow.len().min(self.m.len());
        if let (Some(m), Some(v), Some(p)) = (
            self.m.get_mut(..len),
            self.v.get_mut(..len),
            prow.get(..len),
        ) {
            m.copy_from_slice(p);
            v.fill(0.0);
        }
    }

    /// Room for a sample of the group's `len` elements in the per-sample buffers, `n` zeroed.
    pub(crate) fn clear_group(&mut self, len: usize) {
        self.n.clear();
        self.n.resize(len, 0);
        self.up.resize(len, false);
        self.fail.resize(len, false);
    }

    /// Advances the moments of the group's `len` elements from `at` (one row, or rows one
    /// after another) by their sample's trains (`self.n`, `self.up` from `from`; trains of at
    /// most `2^bits − 1` pulses), and marks in `self.fail` (from `from`) the trains whose mean
    /// path leaves the guard band (their moments are left as they were); returns nonzero if
    /// any did (the number of chunks with a fail).
    pub(crate) fn advance(
        &mut self,
        ideal: bool,
        (at, from, len): (usize, usize, usize),
        bits: u32,
    ) -> usize {
        let span = at..at + len;
        let counts = from..from + len;
        let WindowScratch {
            m,
            v,
            r,
            b,
            g,
            lo,
            hi,
            n,
            up,
            fail,
            ..
        } = self;
        let (Some(m), Some(v), Some(lo), Some(hi), Some(n), Some(up), Some(fail)) = (
            m.get_mut(span.clone()),
            v.get_mut(span.clone()),
            lo.get(span.clone()),
            hi.get(span.clone()),
            n.get(counts.clone()),
            up.get(counts.clone()),
            fail.get_mut(counts),
        ) else {
            return 0;
        };
        let [r0, r1] = r;
        let [b0, b1] = b;
        let [g0, g1] = g;
        let (Some(r0), Some(r1), Some(b0), Some(b1), Some(g0), Some(g1)) = (
            r0.get(span.clone()),
            r1.get(span.clone()),
            b0.get(span.clone()),
            b1.get(span.clone()),
            g0.get(span.clone()),
            g1.get(span),
        ) else {
            return 0;
        };
        window_moments(WindowRow {
            ideal,
            bits,
            n,
            up,
            m,
            v,
            r: [r0, r1],
            b: [b0, b1],
            g: [g0, g1],
            lo,
            hi,
            fail,
        })
    }

    /// Ends the window on the row whose elements start at `base` (`i` of them; KERNEL_SPEC §5):
    /// every element with moments in flight (v > 0) takes the next normal of `s`, in column
    /// order, and its state `prow[t]` becomes `clip(m + sqrt(v)·ξ, lo, hi)`; every other
    /// element's state is its `m`. [`WindowScratch::end_normals`], then
    /// [`WindowScratch::end_span`] (the kernel places a group's rows' normals first, then
    /// ends them in one pass; the tests end one row).
    #[cfg(test)]
    pub(crate) fn end_row(&mut self, s: Stream, base: usize, i: usize, prow: &mut [f64]) {
        self.end_normals(s, base, i);
        self.end_span(base, i, prow);
    }

    /// The normals of a window's end on the row whose elements start at `base` (`i` of them),
    /// spread over its columns: element t's slot `xi[t]` gets the next normal of `s` if it is
    /// live (v > 0), in column order (the others' values are never used).
    pub(crate) fn end_normals(&mut self, mut s: Stream, base: usize, i: usize) {
        let span = base..base + i;
        let WindowScratch { v, normals, xi, .. } = self;
        let Some(v) = v.get(span.clone()) else {
            return;
        };
        let live = v.iter().filter(|&&v| v > 0.0).count();
        normals.clear();
        normals.resize(live, 0.0);
        s.fill_normals(normals);
        if xi.len() < base + i {
            xi.resize(base + i, 0.0);
        }
        let Some(xi) = xi.get_mut(span) else {
            return;
        };
        let mut next = 0;
        for (x, &vt) in xi.iter_mut().zip(v.iter()) {
            *x = normals.get(next).copied().unwrap_or(0.0);
            next += usize::from(vt > 0.0);
        }
    }

    /// The states at a window's end of the elements `at..at + len` (rows whose normals
    /// [`WindowScratch::end_normals`] placed): one dispatched vector loop ([`end_moments`])
    /// over them all, element by element the form of [`WindowScratch::end_row`].
    pub(crate) fn end_span(&mut self, at: usize, len: usize, prow: &mut [f64]) {
        let span = at..at + len;
        let WindowScratch {
            m, v, lo, hi, xi, ..
        } = self;
        let (Some(m), Some(v), Some(lo), Some(hi), Some(xi), Some(p)) = (
            m.get_mut(span.clone()),
            v.get_mut(span.clone()),
            lo.get(span.clone()),
            hi.get(span.clone()),
            xi.get(span.clone()),
            prow.get_mut(span),
        ) else {
            return;
        };
        end_moments(EndRow {
            m,
            v,
            lo,
            hi,
            xi,
            p,
        });
    }

    /// The element's bounds.
    pub(crate) fn bounds(&self, t: usize) -> (f64, f64) {
        (
            self.lo.get(t).copied().unwrap_or(f64::NAN),
            self.hi.get(t).copied().unwrap_or(f64::NAN),
        )
    }
}

/// One row's slices for [`window_moments`] (all of the row's length).
struct WindowRow<'a> {
    ideal: bool,
    bits: u32,
    n: &'a [u32],
    up: &'a [bool],
    m: &'a mut [f64],
    v: &'a mut [f64],
    r: [&'a [f64]; 2],
    b: [&'a [f64]; 2],
    g: [&'a [f64]; 2],
    lo: &'a [f64],
    hi: &'a [f64],
    fail: &'a mut [bool],
}

/// The windowed sampler's moments of one row's sample (KERNEL_SPEC §5), in loops without
/// branches on the values that the compiler vectorises for the CPU (runtime dispatch; IEEE
/// add, sub, mul, sqrt, compare and select only, no FMA, so every target gives the same bits).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2"))]
fn window_moments<'a>(w: WindowRow<'a>) -> usize {
    window_moments_body(w)
}

/// The body of [`window_moments`], inlined into each target's copy (and called alone, on the
/// baseline target, by the tests).
#[inline(always)]
fn window_moments_body(w: WindowRow<'_>) -> usize {
    const CHUNK: usize = 16;
    const SMALL: usize = 4;
    let WindowRow {
        ideal,
        bits,
        n,
        up,
        m,
        v,
        r: [r0, r1],
        b: [b0, b1],
        g: [g0, g1],
        lo,
        hi,
        fail,
    } = w;
    let len = n.len();
    let (Some(up), Some(m), Some(v), Some(lo), Some(hi), Some(fail)) = (
        up.get(..len),
        m.get_mut(..len),
        v.get_mut(..len),
        lo.get(..len),
        hi.get(..len),
        fail.get_mut(..len),
    ) else {
        return 0;
    };
    let (Some(r0), Some(r1), Some(b0), Some(b1), Some(g0), Some(g1)) = (
        r0.get(..len),
        r1.get(..len),
        b0.get(..len),
        b1.get(..len),
        g0.get(..len),
        g1.get(..len),
    ) else {
        return 0;
    };
    // In chunks of 16 elements, then of 4 (short rows: least squares' 20 columns), so that the
    // powering loop runs in registers; whole chunks are read in place, the last few elements
    // through padded copies (trains of no pulses).
    // Away from the ideal family the fixed point is the bound in the train's direction (b
    // holds lo and hi): read from lo and hi, one stream fewer through the cache.
    let b = if ideal { [b0, b1] } else { [lo, hi] };
    let row = RowIn {
        n,
        up,
        r: [r0, r1],
        b,
        g: [g0, g1],
        lo,
        hi,
    };
    let mut at = 0;
    let mut fails = 0;
    while at < len {
        let rem = len - at;
        let step = if rem >= CHUNK { CHUNK } else { rem.min(SMALL) };
        let span = at..at + step;
        at += step;
        let done = if step == CHUNK {
            whole_chunk::<CHUNK>(ideal, bits, &row, (m, v, fail), &span)
        } else if step == SMALL {
            whole_chunk::<SMALL>(ideal, bits, &row, (m, v, fail), &span)
        } else {
            None
        };
        if let Some(k) = done {
            fails += k;
            continue;
        }
        // The tail: padded copies (trains of no pulses).
        let mut n_ = [0u32; SMALL];
        let mut u_ = [false; SMALL];
        let (mut ra, mut rb, mut ba, mut bb) =
            ([1.0; SMALL], [1.0; SMALL], [0.0; SMALL], [0.0; SMALL]);
        let (mut ga, mut gb, mut los, mut his) =
            ([0.0; SMALL], [0.0; SMALL], [0.0; SMALL], [0.0; SMALL]);
        let mut f_ = [false; SMALL];
        let (mut m_, mut v_) = ([0.0; SMALL], [0.0; SMALL]);
        pad(&mut n_, n, &span);
        pad(&mut u_, up, &span);
        pad(&mut ra, r0, &span);
        pad(&mut rb, r1, &span);
        pad(&mut ba, row.b[0], &span);
        pad(&mut bb, row.b[1], &span);
        pad(&mut ga, g0, &span);
        pad(&mut gb, g1, &span);
        pad(&mut los, lo, &span);
        pad(&mut his, hi, &span);
        pad(&mut m_, m, &span);
        pad(&mut v_, v, &span);
        let tail = ChunkIn {
            n: &n_,
            u: &u_,
            r: [&ra, &rb],
            b: [&ba, &bb],
            g: [&ga, &gb],
            lo: &los,
            hi: &his,
        };
        fails += chunk_moments(ideal, bits, &tail, &mut m_, &mut v_, &mut f_);
        for (k, t) in span.enumerate() {
            if let (Some(m), Some(v), Some(f)) = (m.get_mut(t), v.get_mut(t), fail.get_mut(t)) {
                (*m, *v, *f) = (m_[k], v_[k], f_[k]);
            }
        }
    }
    fails
}

/// A row's read-only inputs of [`window_moments`] (per direction: 0 down, 1 up).
struct RowIn<'a> {
    n: &'a [u32],
    up: &'a [bool],
    r: [&'a [f64]; 2],
    b: [&'a [f64]; 2],
    g: [&'a [f64]; 2],
    lo: &'a [f64],
    hi: &'a [f64],
}

/// [`chunk_moments`] on the whole chunk `span` (`N` long) of a row, read and written in place;
/// `None` (nothing done) if the span is not `N` long or out of range. Returns 1 if a train failed, else 0.
#[inline(always)]
fn whole_chunk<const N: usize>(
    ideal: bool,
    bits: u32,
    row: &RowIn<'_>,
    (m, v, fail): (&mut [f64], &mut [f64], &mut [bool]),
    span: &std::ops::Range<usize>,
) -> Option<usize> {
    let c = ChunkIn {
        n: arr::<u32, N>(row.n, span)?,
        u: arr::<bool, N>(row.up, span)?,
        r: [
            arr::<f64, N>(row.r[0], span)?,
            arr::<f64, N>(row.r[1], span)?,
        ],
        b: [
            arr::<f64, N>(row.b[0], span)?,
            arr::<f64, N>(row.b[1], span)?,
        ],
        g: [
            arr::<f64, N>(row.g[0], span)?,
            arr::<f64, N>(row.g[1], span)?,
        ],
        lo: arr::<f64, N>(row.lo, span)?,
        hi: arr::<f64, N>(row.hi, span)?,
    };
    let m = arr_mut::<f64, N>(m, span)?;
    let v = arr_mut::<f64, N>(v, span)?;
    let f = arr_mut::<bool, N>(fail, span)?;
    Some(chunk_moments(ideal, bits, &c, m, v, f))
}

/// `src[span]` as a fixed-size array reference, when the span is `N` long and in range.
#[inline(always)]
fn arr<'a, T, const N: usize>(src: &'a [T], span: &std::ops::Range<usize>) -> Option<&'a [T; N]> {
    src.get(span.clone())
        .and_then(|s| <&[T; N]>::try_from(s).ok())
}

/// [`arr`], mutable.
#[inline(always)]
fn arr_mut<'a, T, const N: usize>(
    src: &'a mut [T],
    span: &std::ops::Range<usize>,
) -> Option<&'a mut [T; N]> {
    src.get_mut(span.clone())
        .and_then(|s| <&mut [T; N]>::try_from(s).ok())
}

/// `dst[..span.len()] = src[span]` element by element (the tail of [`window_moments`]).
#[inline(always)]
fn pad<T: Copy, const N: usize>(dst: &mut [T; N], src: &[T], span: &std::ops::Range<usize>) {
    for (d, t) in dst.iter_mut().zip(span.clone()) {
        if let Some(&s) = src.get(t) {
            *d = s;
        }
    }
}

/// `if u { a } else { b }` as a blend of the bits: both values are loaded, so the compiler
/// cannot turn the choice into a gather of one of two addresses (which it does for a select).
#[inline(always)]
fn pick(u: bool, a: f64, b: f64) -> f64 {
    let mask = u64::from(u).wrapping_neg();
    f64::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// One chunk's read-only inputs of [`chunk_moments`] (per direction: 0 down, 1 up).
struct ChunkIn<'a, const N: usize> {
    n: &'a [u32; N],
    u: &'a [bool; N],
    r: [&'a [f64; N]; 2],
    b: [&'a [f64; N]; 2],
    g: [&'a [f64; N]; 2],
    lo: &'a [f64; N],
    hi: &'a [f64; N],
}

/// One chunk of [`window_moments`]: rⁿ by binary powering (rn ← rn·p where bit k of the count
/// is set, p ← p·p: the same products in the same order for every element and in the twin),
/// the new moments, and the guard as squares (d >= κ·sqrt(v) as d >= 0 and d·d >= κ²·v).
/// Index loops over fixed-size arrays and bitwise `&`/`|` on bools: the shapes the compiler
/// vectorises without branches.
#[allow(clippy::needless_range_loop, clippy::needless_bitwise_bool)]
#[inline(always)]
fn chunk_moments<const N: usize>(
    ideal: bool,
    bits: u32,
    c: &ChunkIn<'_, N>,
    m: &mut [f64; N],
    v: &mut [f64; N],
    fail: &mut [bool; N],
) -> usize {
    let kappa2 = AGGREGATE_KAPPA * AGGREGATE_KAPPA;
    // Whether any train failed (a count, summed from bools per chunk, cost 8% of the update).
    let mut any = false;
    let mut rn = [1.0; N];
    if !ideal {
        let mut pw = [1.0; N];
        for t in 0..N {
            pw[t] = pick(c.u[t], c.r[1][t], c.r[0][t]);
        }
        for bit in 0..bits {
            for t in 0..N {
                let p = pw[t];
                let set = (c.n[t] >> bit) & 1 != 0;
                rn[t] = if set { rn[t] * p } else { rn[t] };
                pw[t] = p * p;
            }
        }
    }
    for t in 0..N {
        let u = c.u[t];
        let bt = pick(u, c.b[1][t], c.b[0][t]);
        let gt = pick(u, c.g[1][t], c.g[0][t]);
        let (m0, v0) = (m[t], v[t]);
        let (m1, v1) = if ideal {
            let k = f64::from(c.n[t]);
            (m0 + k * bt, v0 + k * gt)
        } else {
            let p = rn[t];
            (bt + (m0 - bt) * p, gt + (v0 - gt) * (p * p))
        };
        let low = m1 < m0;
        let near = if low { m1 } else { m0 };
        let far = if low { m0 } else { m1 };
        let vmax = if v1 > v0 { v1 } else { v0 };
        let band2 = kappa2 * vmax;
        let (dl, dh) = (near - c.lo[t], c.hi[t] - far);
        // A map that may not be aggregated has r NaN: then rⁿ, m1 and v1 are NaN for n ≥ 1,
        // `low` is false, far = m1 and dh is NaN, so the train fails here. dl is NaN only if
        // m0 is, and then m1 and dh are NaN too.
        let good = margins_ok(dl, dh, band2);
        let active = c.n[t] > 0;
        let take = active && good;
        m[t] = if take { m1 } else { m0 };
        v[t] = if take { v1 } else { v0 };
        let f = active && !good;
        fail[t] = f;
        any |= f;
    }
    usize::from(any)
}

/// The window guard `dl ≥ 0 ∧ dh ≥ 0 ∧ dl² ≥ band2 ∧ dh² ≥ band2` on the smaller margin alone:
/// for margins ≥ 0 the smaller one's square is the smaller square (rounding is monotone), and
/// a negative margin fails either way. The same answer for every (dl, dh, band2) whose dl is
/// NaN only when dh is (the window moments' case): a NaN dh is kept (dl < NaN is false) and
/// fails.
#[inline(always)]
fn margins_ok(dl: f64, dh: f64, band2: f64) -> bool {
    let dmin = if dl < dh { dl } else { dh };
    dmin >= 0.0 && dmin * dmin >= band2
}

/// Equivalent CEIL pulse count of a desired increment: a ratio within 2⁻⁴⁰ (relative) above
/// an integer counts as that integer, so 0.05/1e−3 = 50.000000000000007 gives 50.
#[inline]
pub(crate) fn ceil_count(ratio: f64) -> u64 {
    crate::rng::ceil_u64(ratio * (1.0 - 1.0 / 1_099_511_627_776.0))
}

/// `min(max(w, lo), hi)` as NumPy's `np.minimum(np.maximum(w, lo), hi)` computes it (and so the
/// twin): NaN propagates, and a tie keeps `w` (so −0.0 stays −0.0). Two compares, no NaN
/// fix-ups (Rust's `f64::max` drops a NaN operand instead).
#[inline(always)]
pub fn clip(w: f64, lo: f64, hi: f64) -> f64 {
    let w = if w < lo { lo } else { w };
    if w > hi {
        hi
    } else {
        w
    }
}

/// A probability within 4 ulp of 1 counts as certain (shared/theory.md C12); capped at 1.
#[inline]
pub(crate) fn snap(p: f64) -> f64 {
    if p >= 1.0 - 4.0 * f64::EPSILON {
        1.0
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::Family;

    /// A device with additive noise (σ 0.3, dw_min 0.02, bounds ±1) and no spread.
    fn additive(family: Family) -> DeviceSpec {
        DeviceSpec {
            family,
            lo: -1.0,
            hi: 1.0,
            dw_min: 0.02,
            dw_min_std: 0.3,
            c2c: C2cMode::Additive,
            dw_min_dtod: 0.0,
            dw_min_dtod_log_normal: false,
            up_down: 0.0,
            up_down_dtod: 0.0,
            w_max_dtod: 0.0,
            w_min_dtod: 0.0,
            reference_mean: 0.0,
            reference_std: 0.0,
            subtract_symmetry_point: false,
        }
    }

    #[test]
    fn block_moments_are_the_scalar_moments_bit_for_bit() {
        let mut s = Stream::open([7, 8], 0, 0, 0, 0, 0);
        let families = [
            Family::Ideal,
            Family::LinearStep { sp: 0.1 },
            Family::SkewLinear { c: -0.3 },
            Family::SoftBounds {
                alpha_up: 1.2,
                alpha_down: 0.8,
            },
            Family::Power {
                gamma_up: 2.0,
                gamma_down: 2.0,
            },
        ];
        for family in families {
            let dev = additive(family);
            let pulser = Pulser::with_aggregate(&dev, true);
            assert_eq!(pulser.aggregates(), is_affine(family));
            // Lengths around the chunk size, states all over the bounds (some in the guard
            // band), a few steps too large to contract (β >= 1) and a NaN state.
            for len in [0usize, 1, 5, 16, 17, 40, 333] {
                let mut b = AggBlock::default();
                b.reserve(len);
                let mut want = Vec::new();
                for t in 0..len {
                    let m = ElemMap {
                        lo: -0.7 - 0.3 * s.uniform(),
                        hi: 0.7 + 0.3 * s.uniform(),
                        up: if t % 37 == 5 { 1.5 } else { 0.05 * s.uniform() },
                        dn: 0.05 * s.uniform(),
                    };
                    let w = if t % 53 == 7 {
                        f64::NAN
                    } else {
                        2.0 * s.uniform() - 1.0
                    };
                    let n = (s.uniform() * 40.0) as u32;
                    let up = s.uniform() < 0.5;
                    b.set(t, t as u32, n, up, w, &m);
                    want.push(pulser.aggregate_moments(w, &m, up, u64::from(n)));
                }
                b.set_len(len);
                pulser.aggregate_block(&mut b);
                let mut base = AggBlock::default();
                std::mem::swap(&mut base, &mut b);
                let mut plain = AggBlock::default();
                plain.reserve(len);
                for t in 0..len {
                    plain.j[t] = base.j[t];
                    plain.n[t] = base.n[t];
                    plain.up[t] = base.up[t];
                    plain.w[t] = base.w[t];
                    plain.lo[t] = base.lo[t];
                    plain.hi[t] = base.hi[t];
                    plain.step[t] = base.step[t];
                }
                plain.set_len(len);
                // The same loop on the baseline target (no dispatch).
                block_moments_body(family, 0.3, true, &mut plain);
                for (t, want) in want.iter().enumerate() {
                    let got = base.ok[t].then_some((base.mean[t], base.sd[t]));
                    let bits = |v: Option<(f64, f64)>| v.map(|(a, b)| (a.to_bits(), b.to_bits()));
                    assert_eq!(bits(got), bits(*want), "{family:?}, train {t}");
                    let flat = plain.ok[t].then_some((plain.mean[t], plain.sd[t]));
                    assert_eq!(bits(flat), bits(*want), "{family:?}, baseline, train {t}");
                }
            }
        }
    }

    #[test]
    fn end_row_is_the_element_by_element_form() {
        // A window's end through the dispatched vector loop equals, bit for bit on every
        // target, the element-by-element form it replaces (a live element, v > 0, takes the
        // next normal in column order and becomes clip(m + sqrt(v)·ξ, lo, hi); the others
        // keep m), for rows of every length around the vector widths, with states pushed
        // past the bounds (the clip binds), v = 0 and tiny negative v (not live).
        let mut s = Stream::open([9, 6], 0, 0, 0, 0, 0);
        for len in [1usize, 7, 8, 9, 16, 33, 512] {
            let maps: Vec<ElemMap> = (0..len)
                .map(|_| ElemMap {
                    lo: -0.7 - 0.3 * s.uniform(),
                    hi: 0.7 + 0.3 * s.uniform(),
                    up: 0.01,
                    dn: 0.01,
                })
                .collect();
            let pulser = Pulser::with_aggregate(
                &additive(Family::SoftBounds {
                    alpha_up: 1.0,
                    alpha_down: 1.0,
                }),
                true,
            );
            let mut ws = WindowScratch::default();
            ws.load(&pulser, &maps);
            let state: Vec<f64> = (0..len).map(|_| 1.8 * s.uniform() - 0.9).collect();
            ws.start(&state);
            for t in 0..len {
                ws.m[t] = 2.4 * s.uniform() - 1.2;
                ws.v[t] = match t % 5 {
                    0 => 0.0,
                    1 => -1e-300,
                    2 => 0.5 * s.uniform(),
                    _ => 1e-4 * s.uniform(),
                };
            }
            let (m0, v0) = (ws.m.clone(), ws.v.clone());
            let key = Stream::open([3, 1], 0, 0, 0, 0, 0);
            // The element-by-element form, with the same stream.
            let mut want = vec![f64::NAN; len];
            let live = v0.iter().filter(|&&v| v > 0.0).count();
            let mut normals = vec![0.0; live];
            key.clone().fill_normals(&mut normals);
            let mut next = 0;
            for t in 0..len {
                want[t] = if v0[t] > 0.0 {
                    next += 1;
                    clip(
                        m0[t] + v0[t].sqrt() * normals[next - 1],
                        maps[t].lo,
                        maps[t].hi,
                    )
                } else {
                    m0[t]
                };
            }
            let mut got = vec![f64::NAN; len];
            ws.end_row(key.clone(), 0, len, &mut got);
            let same =
                |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same(&got, &want), "len {len}");
            assert!(same(&ws.m, &want), "len {len}: m");
            for (t, (&got_v, &v0t)) in ws.v.iter().zip(&v0).enumerate() {
                let v = if v0t > 0.0 { 0.0 } else { v0t };
                assert_eq!(got_v.to_bits(), v.to_bits(), "len {len} element {t}");
            }
            assert!(
                want.iter()
                    .zip(&maps)
                    .any(|(w, m)| *w == m.lo || *w == m.hi)
                    || len < 16
            );
            // The baseline target's body gives the same bits.
            let xi: Vec<f64> = {
                let mut next = 0;
                v0.iter()
                    .map(|&v| {
                        let x = normals.get(next).copied().unwrap_or(0.0);
                        next += usize::from(v > 0.0);
                        x
                    })
                    .collect()
            };
            let (mut m1, mut v1, mut p1) = (m0.clone(), v0.clone(), vec![f64::NAN; len]);
            let (lo, hi): (Vec<f64>, Vec<f64>) = maps.iter().map(|m| (m.lo, m.hi)).unzip();
            end_moments_body(EndRow {
                m: &mut m1,
                v: &mut v1,
                lo: &lo,
                hi: &hi,
                xi: &xi,
                p: &mut p1,
            });
            assert!(same(&p1, &want) && same(&v1, &ws.v), "len {len}: baseline");
        }
    }

    #[test]
    fn load_maps_is_the_element_by_element_form() {
        // The dispatched, vectorised map constants equal, bit for bit on every target, the
        // element-by-element form they replace (`affine_parts` per element and direction),
        // for every affine family and a non-affine one, with steps and bounds that make some
        // maps invalid (β ≥ 1, β < 2⁻²⁶) and rows of every length around the vector widths.
        let mut s = Stream::open([9, 5], 0, 0, 0, 0, 0);
        let families = [
            Family::Ideal,
            Family::LinearStep { sp: 0.1 },
            Family::SkewLinear { c: -0.3 },
            Family::SoftBounds {
                alpha_up: 1.2,
                alpha_down: 0.8,
            },
            Family::Power {
                gamma_up: 0.5,
                gamma_down: 2.0,
            },
        ];
        let sigma = 0.3;
        for f in families {
            for len in [0usize, 1, 7, 8, 9, 16, 33, 512] {
                let maps: Vec<ElemMap> = (0..len)
                    .map(|t| ElemMap {
                        lo: -0.7 - 0.3 * s.uniform(),
                        hi: 0.7 + 0.3 * s.uniform(),
                        up: match t % 11 {
                            3 => 1.5,
                            5 => 1e-12,
                            7 => 0.0,
                            _ => 0.05 * s.uniform(),
                        },
                        dn: 0.05 * s.uniform(),
                    })
                    .collect();
                // The old loop of `WindowScratch::load`, element by element.
                let ideal = matches!(f, Family::Ideal);
                let mut want = vec![[(0.0f64, 0.0f64, 0.0f64, false); 2]; len];
                for (m, w) in maps.iter().zip(want.iter_mut()) {
                    for (d, up) in [(0usize, false), (1, true)] {
                        let step = [m.dn, m.up][d];
                        let (r, c, valid) = affine_parts(f, m.lo, m.hi, step, up);
                        let s2 = (step * sigma) * (step * sigma);
                        w[d] = if ideal {
                            (r, c, s2, true)
                        } else {
                            let ok = valid && 1.0 - r >= WINDOW_MIN_BETA;
                            (r, [m.lo, m.hi][d], s2 / ((1.0 - r) * (1.0 + r)), ok)
                        };
                    }
                }
                for dispatched in [true, false] {
                    let (mut lo, mut hi) = (vec![0.0; len], vec![0.0; len]);
                    let (mut r0, mut r1, mut b0, mut b1, mut g0, mut g1) = (
                        vec![0.0; len],
                        vec![0.0; len],
                        vec![0.0; len],
                        vec![0.0; len],
                        vec![0.0; len],
                        vec![0.0; len],
                    );
                    let out = MapsOut {
                        lo: &mut lo,
                        hi: &mut hi,
                        r: [&mut r0, &mut r1],
                        b: [&mut b0, &mut b1],
                        g: [&mut g0, &mut g1],
                    };
                    if dispatched {
                        load_maps(f, sigma, &maps, out);
                    } else {
                        load_maps_body(f, sigma, &maps, out);
                    }
                    let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
                    for (t, (m, w)) in maps.iter().zip(&want).enumerate() {
                        assert!(same(lo[t], m.lo) && same(hi[t], m.hi), "{f:?} {len} {t}");
                        let got = [(r0[t], b0[t], g0[t]), (r1[t], b1[t], g1[t])];
                        for d in 0..2 {
                            let (g, e) = (got[d], w[d]);
                            // A map that may not be aggregated carries a NaN r.
                            let r_ok = if e.3 { same(g.0, e.0) } else { g.0.is_nan() };
                            // b is written for the ideal family alone (its step c).
                            let b_ok = !ideal || same(g.1, e.1);
                            assert!(
                                r_ok && b_ok && same(g.2, e.2),
                                "{f:?} len {len} element {t} direction {d}: {g:?} != {e:?}"
                            );
                        }
                    }
                }
                // Some maps of each affine family are refused, some taken (the test sees both).
                if !ideal && len == 512 {
                    let oks = want.iter().filter(|w| w[1].3).count();
                    let affine = !matches!(f, Family::Power { .. });
                    assert!(
                        !affine || (oks > 0 && oks < len),
                        "{f:?}: {oks} of {len} up maps ok"
                    );
                }
            }
        }
    }

    #[test]
    fn margins_ok_is_the_four_tests() {
        let vals = [
            f64::NEG_INFINITY,
            -1.0,
            -1e-300,
            -0.0,
            0.0,
            5e-324,
            1e-200,
            1e-160,
            0.5,
            1.0 - f64::EPSILON,
            1.0,
            1.0 + f64::EPSILON,
            3.0,
            1e160,
            f64::INFINITY,
        ];
        let mut band = vals.iter().map(|v| v * v).collect::<Vec<_>>();
        band.extend([0.0, 1.0, 0.25, f64::NAN]);
        let mut dhs = vals.to_vec();
        dhs.push(f64::NAN);
        for &b in &band {
            for &dl in &vals {
                for &dh in &dhs {
                    let four = dl >= 0.0 && dh >= 0.0 && dl * dl >= b && dh * dh >= b;
                    assert_eq!(margins_ok(dl, dh, b), four, "{dl} {dh} {b}");
                }
                // dl NaN only with dh NaN.
                assert!(!margins_ok(f64::NAN, f64::NAN, b));
            }
        }
    }

    #[test]
    fn window_moments_are_the_baseline_and_the_recursion() {
        // Every dispatch target gives the baseline's bits, and the closed form agrees with the
        // pulse-by-pulse recursion of the mean and variance (m ← m·r + c, v ← v·r² + (step·σ)²)
        // to rounding, for every affine family, rows with a tail, counts 0..40 and states all
        // over the bounds (some in the guard band, some maps that do not contract).
        let mut s = Stream::open([9, 4], 0, 0, 0, 0, 0);
        let families = [
            Family::Ideal,
            Family::LinearStep { sp: 0.1 },
            Family::SkewLinear { c: -0.3 },
            Family::SoftBounds {
                alpha_up: 1.2,
                alpha_down: 0.8,
            },
        ];
        for family in families {
            let dev = additive(family);
            let pulser = Pulser::with_aggregate(&dev, true);
            let ideal = matches!(family, Family::Ideal);
            for len in [1usize, 15, 16, 17, 50, 333] {
                let maps: Vec<ElemMap> = (0..len)
                    .map(|t| ElemMap {
                        lo: -0.7 - 0.3 * s.uniform(),
                        hi: 0.7 + 0.3 * s.uniform(),
                        up: if t % 37 == 5 { 1.5 } else { 0.05 * s.uniform() },
                        dn: 0.05 * s.uniform(),
                    })
                    .collect();
                let state: Vec<f64> = (0..len).map(|_| 1.8 * s.uniform() - 0.9).collect();
                let mut ws = WindowScratch::default();
                ws.load(&pulser, &maps);
                ws.start(&state);
                // Two samples: the second starts from moments in flight.
                for _ in 0..2 {
                    ws.clear_group(len);
                    for t in 0..len {
                        ws.n[t] = (s.uniform() * 40.0) as u32;
                        ws.up[t] = s.uniform() < 0.5;
                    }
                    let (m0, v0) = (ws.m.clone(), ws.v.clone());
                    let mut base = WindowScratch::default();
                    base.load(&pulser, &maps);
                    base.m.clone_from(&m0);
                    base.v.clone_from(&v0);
                    base.clear_group(len);
                    base.n.clone_from(&ws.n);
                    base.up.clone_from(&ws.up);
                    ws.advance(ideal, (0, 0, len), 6);
                    {
                        let WindowScratch {
                            m,
                            v,
                            r,
                            b,
                            g,
                            lo,
                            hi,
                            n,
                            up,
                            fail,
                            ..
                        } = &mut base;
                        window_moments_body(WindowRow {
                            ideal,
                            bits: 6,
                            n,
                            up,
                            m,
                            v,
                            r: [&r[0], &r[1]],
                            b: [&b[0], &b[1]],
                            g: [&g[0], &g[1]],
                            lo,
                            hi,
                            fail,
                        });
                    }
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&ws.m), bits(&base.m), "{family:?} {len}");
                    assert_eq!(bits(&ws.v), bits(&base.v), "{family:?} {len}");
                    assert_eq!(ws.fail, base.fail, "{family:?} {len}");
                    let mut took = 0;
                    for t in 0..len {
                        let (n, up, m) = (ws.n[t], ws.up[t], &maps[t]);
                        let step = if up { m.up } else { m.dn };
                        let Some((r, c)) = affine_map(family, m.lo, m.hi, step, up) else {
                            assert!(n == 0 || ws.fail[t], "{family:?}: no map, yet aggregated");
                            continue;
                        };
                        let (mut mm, mut vv) = (m0[t], v0[t]);
                        for _ in 0..n {
                            mm = mm * r + c;
                            vv = vv * r * r + (step * 0.3) * (step * 0.3);
                        }
                        if n > 0 && !ws.fail[t] {
                            took += 1;
                            assert!((ws.m[t] - mm).abs() <= 1e-13, "{family:?} mean {t}");
                            // The closed form cancels to about ε/β relative (WINDOW_MIN_BETA).
                            let tol = 1e-13 + 64.0 * f64::EPSILON / (1.0 - r).max(1e-300);
                            assert!((ws.v[t] - vv).abs() <= tol * vv, "{family:?} var {t}");
                            let sd = ws.v[t].max(v0[t]).sqrt();
                            assert!(mm.min(m0[t]) - AGGREGATE_KAPPA * sd >= m.lo - 1e-12);
                            assert!(mm.max(m0[t]) + AGGREGATE_KAPPA * sd <= m.hi + 1e-12);
                        } else {
                            assert_eq!(ws.m[t].to_bits(), m0[t].to_bits());
                            assert_eq!(ws.v[t].to_bits(), v0[t].to_bits());
                        }
                    }
                    if len >= 50 {
                        assert!(took > 0, "{family:?}: nothing aggregated");
                    }
                }
            }
        }
    }

    #[test]
    fn fire_lanes_is_fire_one_train_at_a_time() {
        let dev = DeviceSpec {
            family: Family::SoftBounds {
                alpha_up: 1.2,
                alpha_down: 0.8,
            },
            lo: -1.0,
            hi: 1.0,
            dw_min: 0.05,
            dw_min_std: 0.3,
            c2c: C2cMode::Multiplicative,
            dw_min_dtod: 0.0,
            dw_min_dtod_log_normal: false,
            up_down: 0.0,
            up_down_dtod: 0.0,
            w_max_dtod: 0.0,
            w_min_dtod: 0.0,
            reference_mean: 0.0,
            reference_std: 0.0,
            subtract_symmetry_point: false,
        };
        let pulser = Pulser::new(&dev);
        let mut s = Stream::open([5, 6], 0, 0, 0, 0, 0);
        let n = 300;
        let mrow: Vec<ElemMap> = (0..n)
            .map(|_| ElemMap {
                lo: -0.6 - 0.4 * s.uniform(),
                hi: 0.6 + 0.4 * s.uniform(),
                up: 0.1 * s.uniform(),
                dn: 0.1 * s.uniform(),
            })
            .collect();
        let row: Vec<f64> = (0..n).map(|_| 2.0 * s.uniform() - 1.0).collect();
        // All single pulses; short mixed trains; a few trains much longer than the rest.
        let shapes: [&dyn Fn(usize) -> u64; 3] = [&|_| 1, &|j| (j * 7 % 5) as u64, &|j| {
            if j % 97 == 3 {
                5000
            } else {
                (j % 3) as u64
            }
        }];
        for (t, shape) in shapes.iter().enumerate() {
            let mut want = row.clone();
            let mut got = row.clone();
            let mut sa = Stream::open([1, 2], 3, 0, t as u64, 1, 0);
            let mut sb = sa.clone();
            let mut scratch = LaneScratch::default();
            // Every other column, so that the lanes skip elements.
            for j in (0..n).step_by(2) {
                let (k, up) = (shape(j), j % 3 != 0);
                pulser.fire(&mut want[j], &mrow[j], up, k, &mut sa);
                if k > 0 {
                    scratch.push(j, k, up);
                    pulser.draw_noise(k, &mut sb, &mut scratch.normals);
                }
            }
            pulser.fire_lanes(&mut got, &mrow, &mut scratch);
            let wb: Vec<u64> = want.iter().map(|v| v.to_bits()).collect();
            let gb: Vec<u64> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(gb, wb, "shape {t}");
            assert_ne!(got, row);
        }
    }
}
