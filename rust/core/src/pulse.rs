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

/// Reusable buffers of [`Pulser::fire_lanes`]: the trains of one row's call, their cycle noise,
/// and the trains sorted by length.
#[derive(Default)]
pub(crate) struct LaneScratch {
    /// The trains are `lanes[..count]` (the vector is only ever grown, to reuse it).
    pub(crate) lanes: Vec<Lane>,
    pub(crate) count: usize,
    pub(crate) normals: Vec<f64>,
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
            for (at, lane) in lanes.iter().enumerate() {
                cols.set(at, lane, prow, mrow);
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
            for (k, l) in lanes.iter().enumerate() {
                if let Some(h) = hist.get_mut(4 * l.left as usize + k % 4) {
                    cols.set(*h, l, prow, mrow);
                    *h += 1;
                }
            }
        } else {
            let mut sorted = lanes.to_vec();
            sorted.sort_unstable_by_key(|l| std::cmp::Reverse(l.left));
            for (at, lane) in sorted.iter().enumerate() {
                cols.set(at, lane, prow, mrow);
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
}

impl Pulser {
    pub(crate) fn new(d: &DeviceSpec) -> Self {
        Pulser {
            family: d.family,
            sigma: d.dw_min_std,
            mult: d.c2c == C2cMode::Multiplicative,
        }
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
