//! Device-to-device variation: each element's fixed map (bounds, up and down steps), drawn
//! once at construction from its row's `CONSTRUCTION` stream (docs/KERNEL_SPEC.md §4).

use crate::rng::Stream;
use crate::spec::DeviceSpec;

/// The fixed per-element device parameters, drawn once at construction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElemMap {
    /// Lower bound of the physical state.
    pub lo: f64,
    /// Upper bound of the physical state.
    pub hi: f64,
    /// Up step Δw⁺ (weight units): an up pulse moves by `up·q+`.
    pub up: f64,
    /// Down step Δw⁻: a down pulse moves by `dn·q−`.
    pub dn: f64,
}

/// Draws one element's map from the construction stream (docs/KERNEL_SPEC.md §4: five normals
/// per element, in the order ξg, ξr, ξmax, ξmin, ξref) and writes its reference offset.
pub fn draw_map(d: &DeviceSpec, s: &mut Stream, reference: &mut f64) -> ElemMap {
    let (xg, xr, xmax, xmin, xref) = (s.normal(), s.normal(), s.normal(), s.normal(), s.normal());
    let g = if d.dw_min_dtod_log_normal {
        (d.dw_min_dtod * xg).exp()
    } else {
        1.0 + d.dw_min_dtod * xg
    };
    let r = d.up_down + d.up_down_dtod * xr;
    let up = (d.dw_min * (g + r)).abs();
    let dn = (d.dw_min * (g - r)).abs();
    let c = d.family.centre();
    let hi = c + (d.hi - c) * (1.0 + d.w_max_dtod * xmax).abs().max(1e-3);
    let lo = c + (d.lo - c) * (1.0 + d.w_min_dtod * xmin).abs().max(1e-3);
    let mut rf = d.reference_mean + d.reference_std * xref;
    if d.subtract_symmetry_point {
        rf += d.family.symmetric_point(lo, hi, up, dn);
    }
    *reference = rf;
    ElemMap { lo, hi, up, dn }
}
