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
        let longest = lanes.iter().map(|l| l.left as usize).max().unwrap_or(0);
        if lanes.iter().all(|l| l.left == 1) {
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
#[multiversion::multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
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

/// Equivalent CEIL pulse count of a desired increment: a ratio within 2⁻⁴⁰ (relative) above
/// an integer counts as that integer, so 0.05/1e−3 = 50.000000000000007 gives 50.
#[inline]
pub(crate) fn ceil_count(ratio: f64) -> u64 {
    (ratio * (1.0 - 1.0 / 1_099_511_627_776.0)).ceil() as u64
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
            let dev = DeviceSpec {
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
            };
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
