//! The expected (compact) update on one row (shared/theory.md §2.3(a), docs/KERNEL_SPEC.md §6).

use crate::family::{specialise, Family};
use crate::pulse::{ceil_count, clip};
use crate::rng::Stream;
use crate::spec::{DeviceSpec, ExpectedParams};
use crate::variation::ElemMap;

/// The expected mode's row kernel: the family specialised once per row ([`expected_row`]).
pub(super) fn row(
    dev: &DeviceSpec,
    p: ExpectedParams,
    prow: &mut [f64],
    crow: &mut [u64],
    mrow: &[ElemMap],
    drow: &[f64],
    s: &mut Stream,
) -> u64 {
    let dw_min = dev.dw_min;
    specialise!(dev.family, fam => expected_row(fam, dw_min, p.noise, prow, crow, mrow, drow, s))
}

/// The expected mode on one row (shared/theory.md §2.3(a)): AU(W, ΔW) in branch form,
/// w + Δw·(up/Δw_min)·q+ for Δw ≥ 0 and w + Δw·(dn/Δw_min)·q− otherwise (P1 Eq. 5), optional
/// noise, clipping, and the equivalent CEIL pulse count. The direction is picked without a
/// branch; the family is a compile-time constant here (see `specialise!`).
#[inline(always)]
fn expected_row(
    f: Family,
    dw_min: f64,
    noise: bool,
    prow: &mut [f64],
    crow: &mut [u64],
    mrow: &[ElemMap],
    drow: &[f64],
    s: &mut Stream,
) -> u64 {
    let mut fired = 0u64;
    for (((p, c), m), &dl) in prow.iter_mut().zip(crow.iter_mut()).zip(mrow).zip(drow) {
        let w = *p;
        let up = dl >= 0.0;
        let step = [m.dn, m.up][usize::from(up)];
        // Both divisions by Δw_min side by side, so that they can share one vector division.
        let [scale, ratio] = [step / dw_min, dl.abs() / dw_min];
        let mut w = w + dl * (scale * f.q_dir(w, m.lo, m.hi, up));
        if noise {
            w += (dl.abs() * dw_min).sqrt() * s.normal();
        }
        *p = clip(w, m.lo, m.hi);
        let n = ceil_count(ratio);
        // Saturating, as every counter (an overflowing ratio rounds to u64::MAX pulses).
        *c = c.saturating_add(n);
        fired = fired.saturating_add(n);
    }
    fired
}
