//! The pulse-count update on one row (shared/theory.md §2.3(b), docs/KERNEL_SPEC.md §6), and
//! exact pulse trains (`apply_pulses`, §2.3(d)).

use crate::pulse::{ceil_count, clip, LaneScratch, Pulser, LANE_BLOCK};
use crate::rng::Stream;
use crate::spec::{DeviceSpec, PulseCountParams, Rounding};
use crate::variation::ElemMap;

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
            scratch.push(j, n, dl > 0.0);
            pulser.draw_noise(n, s, &mut scratch.normals);
            if scratch.count >= LANE_BLOCK {
                pulser.fire_lanes(prow, mrow, &mut scratch);
            }
        }
        *c += n;
        fired += n;
    }
    pulser.fire_lanes(prow, mrow, &mut scratch);
    fired
}

/// Fires `|n|` pulses of sign `sign(n)` on each element of a row (`apply_pulses`), noise from
/// `s` in column order; returns the pulses fired.
pub(super) fn fire_counts(
    pulser: &Pulser,
    prow: &mut [f64],
    crow: &mut [u64],
    mrow: &[ElemMap],
    counts: &[i64],
    s: &mut Stream,
) -> u64 {
    let mut fired = 0u64;
    let mut scratch = LaneScratch::default();
    for (j, (c, &n)) in crow.iter_mut().zip(counts).enumerate() {
        let k = n.unsigned_abs();
        if k == 1 {
            // No chain to overlap: fire at once (its noise is next in the stream).
            if let (Some(p), Some(m)) = (prow.get_mut(j), mrow.get(j)) {
                pulser.fire(p, m, n > 0, 1, s);
            }
        } else if k > 1 {
            scratch.push(j, k, n > 0);
            pulser.draw_noise(k, s, &mut scratch.normals);
            if scratch.count >= LANE_BLOCK {
                pulser.fire_lanes(prow, mrow, &mut scratch);
            }
        }
        *c += k;
        fired += k;
    }
    pulser.fire_lanes(prow, mrow, &mut scratch);
    fired
}
