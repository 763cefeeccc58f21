//! The pulse-count update on one row (shared/theory.md §2.3(b), docs/KERNEL_SPEC.md §6), and
//! exact pulse trains (`apply_pulses`, §2.3(d)).
//!
//! Counters and pulse totals saturate at `u64::MAX` (the twin does the same). The cycle noise
//! of pending trains is bounded by [`MAX_PENDING_NORMALS`]: a row fires its pending trains
//! early rather than hold more (which changes no value: each element's pulses and noise stay
//! in their order, see `Pulser::fire_lanes`).

use crate::pulse::{ceil_count, clip, LaneScratch, Pulser, LANE_BLOCK};
use crate::rng::Stream;
use crate::spec::{DeviceSpec, PulseCountParams, Rounding};
use crate::variation::ElemMap;

/// Most cycle-noise normals held for pending trains at once (64 MiB per thread): before a
/// train would pass it, the pending trains are fired. Without it, [`LANE_BLOCK`] trains of a
/// million pulses each would hold 8 GiB of noise per thread; with it, eight such trains still
/// overlap.
pub(crate) const MAX_PENDING_NORMALS: usize = 1 << 23;

/// Fires the pending trains first if `n` more normals would pass [`MAX_PENDING_NORMALS`].
#[inline]
fn make_room(
    pulser: &Pulser,
    prow: &mut [f64],
    mrow: &[ElemMap],
    scratch: &mut LaneScratch,
    n: u64,
) {
    if scratch.count > 0
        && (scratch.normals.len() as u64).saturating_add(n) > MAX_PENDING_NORMALS as u64
    {
        pulser.fire_lanes(prow, mrow, scratch);
    }
}

/// Where `apply_pulses` stands on one row between chunks: the next column and the row's
/// `UPDATE` stream positioned at that column's noise.
pub(crate) struct TrainCursor {
    pub(crate) s: Stream,
    pub(crate) j: usize,
}

/// Applies one row of desired increments in the pulse-count mode; returns the pulses fired.
pub(super) fn row(
    dev: &DeviceSpec,
    p: PulseCountParams,
    prow: &mut [f64],
    crow: &mut [u64],
    mrow: &[ElemMap],
    drow: &[f64],
    s: &mut Stream,
) -> u64 {
    let PulseCountParams {
        max_bl,
        rounding,
        aggregate,
    } = p;
    let dw_min = dev.dw_min;
    let mut fired = 0u64;
    let pulser = Pulser::with_aggregate(dev, aggregate);
    // Counts and their noise first, in the stream's order (each element's rounding
    // uniform, then its pulses' normals), then all trains fired together.
    let mut scratch = LaneScratch::default();
    for (j, (c, &dl)) in crow.iter_mut().zip(drow).enumerate() {
        let ratio = dl.abs() / dw_min;
        let n = match rounding {
            Rounding::Ceil => ceil_count(ratio),
            Rounding::Stochastic => {
                let u = s.uniform();
                let fl = ratio.floor();
                fl as u64 + u64::from(u < ratio - fl)
            }
        };
        let n = n.min(u64::from(max_bl));
        let agg = match (prow.get(j), mrow.get(j)) {
            (Some(&w), Some(m)) => pulser.aggregate_moments(w, m, dl > 0.0, n),
            _ => None,
        };
        if let (Some((mean, sd)), Some(p), Some(m)) = (agg, prow.get_mut(j), mrow.get(j)) {
            // The whole train in one draw (KERNEL_SPEC §5): its one normal is next in the stream.
            *p = clip(mean + sd * s.normal(), m.lo, m.hi);
        } else if n == 1 {
            // No chain to overlap: fire at once (its noise is next in the stream).
            if let (Some(p), Some(m)) = (prow.get_mut(j), mrow.get(j)) {
                pulser.fire(p, m, dl > 0.0, 1, s);
            }
        } else if n > 1 {
            make_room(&pulser, prow, mrow, &mut scratch, n);
            scratch.push(j, n, dl > 0.0);
            pulser.draw_noise(n, s, &mut scratch.normals);
            if scratch.count >= LANE_BLOCK {
                pulser.fire_lanes(prow, mrow, &mut scratch);
            }
        }
        *c = c.saturating_add(n);
        fired = fired.saturating_add(n);
    }
    pulser.fire_lanes(prow, mrow, &mut scratch);
    fired
}

/// Fires `|n|` pulses of sign `sign(n)` on each element of a row (`apply_pulses`), noise from
/// the cursor's stream in column order, from the cursor's column on, stopping after the first
/// element at which `budget` units of work are reached (a pulse, or one visit for an element
/// without pulses; all pending trains fired: whole elements only); returns the pulses fired,
/// the work done and whether the row is done.
pub(super) fn fire_counts(
    pulser: &Pulser,
    prow: &mut [f64],
    crow: &mut [u64],
    mrow: &[ElemMap],
    counts: &[i64],
    cur: &mut TrainCursor,
    budget: u64,
) -> (u64, u64, bool) {
    let (mut fired, mut work) = (0u64, 0u64);
    let mut scratch = LaneScratch::default();
    let s = &mut cur.s;
    let start = cur.j;
    let mut done = true;
    for (j, (c, &n)) in crow.iter_mut().zip(counts).enumerate().skip(start) {
        if work >= budget {
            cur.j = j;
            done = false;
            break;
        }
        let k = n.unsigned_abs();
        if k == 1 {
            // No chain to overlap: fire at once (its noise is next in the stream).
            if let (Some(p), Some(m)) = (prow.get_mut(j), mrow.get(j)) {
                pulser.fire(p, m, n > 0, 1, s);
            }
        } else if k > 1 {
            make_room(pulser, prow, mrow, &mut scratch, k);
            scratch.push(j, k, n > 0);
            pulser.draw_noise(k, s, &mut scratch.normals);
            if scratch.count >= LANE_BLOCK {
                pulser.fire_lanes(prow, mrow, &mut scratch);
            }
        }
        *c = c.saturating_add(k);
        fired = fired.saturating_add(k);
        // An element without pulses still costs a visit.
        work = work.saturating_add(k.max(1));
    }
    pulser.fire_lanes(prow, mrow, &mut scratch);
    if done {
        cur.j = counts.len();
    }
    (fired, work, done)
}
