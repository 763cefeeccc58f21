//! Spec dicts (from `Device.to_spec()` and the update modes' `to_spec()`) → core specs.

use pulsetrain_core::{
    BoundManagement, C2cMode, CoreError, DeviceSpec, ExpectedParams, Family, IoSpec,
    NoiseManagement, PulseCountParams, Rounding, StochasticParams, UpdateMode, UPDATE_KINDS,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{param_err, to_py};

fn get<'py, T: FromPyObjectOwned<'py>>(
    d: &Bound<'py, PyDict>,
    key: &str,
    owner: &str,
    allowed: &str,
) -> PyResult<T> {
    let Some(v) = d.get_item(key)? else {
        return Err(param_err(
            key,
            owner,
            &format!("present ({allowed})"),
            "missing",
        ));
    };
    v.extract::<T>().map_err(|_| {
        let shown = v.repr().map(|r| r.to_string()).unwrap_or_default();
        param_err(key, owner, allowed, shown)
    })
}

/// An optional bool key: `default` when absent (docs/KERNEL_SPEC.md §8), else a bool.
fn optional_bool(d: &Bound<'_, PyDict>, key: &str, owner: &str, default: bool) -> PyResult<bool> {
    if d.contains(key)? {
        get::<bool>(d, key, owner, "a bool")
    } else {
        Ok(default)
    }
}

/// An optional count key in [1, 1024]: `default` when absent, else an int (a bool is refused,
/// though Python counts it as one).
fn optional_count(d: &Bound<'_, PyDict>, key: &str, owner: &str, default: u32) -> PyResult<u32> {
    const ALLOWED: &str = "an int in the range [1, 1024]";
    let Some(v) = d.get_item(key)? else {
        return Ok(default);
    };
    let shown = || v.repr().map(|r| r.to_string()).unwrap_or_default();
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(param_err(key, owner, ALLOWED, shown()));
    }
    let k: i64 = v
        .extract()
        .map_err(|_| param_err(key, owner, ALLOWED, shown()))?;
    u32::try_from(k).map_err(|_| param_err(key, owner, ALLOWED, k))
}

fn float(d: &Bound<'_, PyDict>, key: &str) -> PyResult<f64> {
    get::<f64>(d, key, "Device spec", "a float")
}

fn boolean(d: &Bound<'_, PyDict>, key: &str) -> PyResult<bool> {
    get::<bool>(d, key, "Device spec", "a bool")
}

/// A binding error while compiling a spec (a local type, so that it can come from a
/// `CoreError`: [`Family::from_parts_with_nodes`] reports an unknown family name that way).
struct SpecError(PyErr);

impl From<CoreError> for SpecError {
    fn from(e: CoreError) -> Self {
        SpecError(to_py(e))
    }
}

/// Compiles a device spec dict; validates every value.
pub(crate) fn device(d: &Bound<'_, PyDict>) -> PyResult<DeviceSpec> {
    let fam: String = get(d, "family", "Device spec", "a family name")?;
    let family = Family::from_parts_with_nodes(
        &fam,
        |key| float(d, key).map_err(SpecError),
        |key| get::<Vec<f64>>(d, key, "Device spec", "a list of floats").map_err(SpecError),
    )
    .map_err(|e: SpecError| e.0)?;
    let spec = DeviceSpec {
        family,
        lo: float(d, "lo")?,
        hi: float(d, "hi")?,
        dw_min: float(d, "dw_min")?,
        dw_min_std: float(d, "dw_min_std")?,
        c2c: if boolean(d, "c2c_multiplicative")? {
            C2cMode::Multiplicative
        } else {
            C2cMode::Additive
        },
        dw_min_dtod: float(d, "dw_min_dtod")?,
        dw_min_dtod_log_normal: boolean(d, "dw_min_dtod_log_normal")?,
        up_down: match d.get_item("up_down")? {
            // Optional (default 0): specs written before the field existed stay valid.
            None => 0.0,
            Some(_) => float(d, "up_down")?,
        },
        up_down_dtod: float(d, "up_down_dtod")?,
        w_max_dtod: float(d, "w_max_dtod")?,
        w_min_dtod: float(d, "w_min_dtod")?,
        reference_mean: float(d, "reference_mean")?,
        reference_std: float(d, "reference_std")?,
        subtract_symmetry_point: boolean(d, "subtract_symmetry_point")?,
    };
    spec.validate().map_err(to_py)?;
    Ok(spec)
}

/// Compiles an update-mode dict; validates every value.
pub(crate) fn update(d: &Bound<'_, PyDict>) -> PyResult<UpdateMode> {
    let kind: String = get(d, "kind", "update spec", "an update kind")?;
    let mode = match kind.as_str() {
        "expected" => UpdateMode::Expected(ExpectedParams {
            noise: get(d, "noise", "ExpectedUpdate", "a bool")?,
        }),
        "pulse_count" => {
            let max_bl: i64 = get(d, "max_bl", "PulseCountUpdate", "an int")?;
            let rounding: String =
                get(d, "rounding", "PulseCountUpdate", "'ceil' or 'stochastic'")?;
            let rounding = match rounding.as_str() {
                "ceil" => Rounding::Ceil,
                "stochastic" => Rounding::Stochastic,
                other => {
                    return Err(param_err(
                        "rounding",
                        "PulseCountUpdate",
                        "'ceil' or 'stochastic'",
                        other,
                    ))
                }
            };
            let max_bl = u32::try_from(max_bl).map_err(|_| {
                param_err(
                    "max_bl",
                    "PulseCountUpdate",
                    "an int in the range [1, 1000000]",
                    max_bl,
                )
            })?;
            UpdateMode::PulseCount(PulseCountParams {
                max_bl,
                rounding,
                aggregate: optional_bool(d, "aggregate", "PulseCountUpdate", true)?,
            })
        }
        "stochastic_pulse" => {
            const O: &str = "StochasticPulseUpdate";
            let bl: i64 = get(d, "desired_bl", O, "an int")?;
            let desired_bl = u32::try_from(bl)
                .map_err(|_| param_err("desired_bl", O, "an int in the range [1, 1024]", bl))?;
            UpdateMode::StochasticPulse(StochasticParams {
                desired_bl,
                update_management: get(d, "update_management", O, "a bool")?,
                update_bl_management: get(d, "update_bl_management", O, "a bool")?,
                fixed_bl: get(d, "fixed_bl", O, "a bool")?,
                um_grad_scale: get(d, "um_grad_scale", O, "a float")?,
                aggregate: optional_bool(d, "aggregate", O, true)?,
                aggregate_samples: optional_count(d, "aggregate_samples", O, 1)?,
            })
        }
        other => {
            let kinds: Vec<String> = UPDATE_KINDS.iter().map(|k| format!("'{k}'")).collect();
            return Err(param_err(
                "kind",
                "update spec",
                &format!("one of {}", kinds.join(", ")),
                other,
            ));
        }
    };
    mode.validate().map_err(to_py)?;
    Ok(mode)
}

/// Compiles an IO-parameters dict (`IOParameters.to_spec()`); validates every value.
pub(crate) fn io(d: &Bound<'_, PyDict>) -> PyResult<IoSpec> {
    const O: &str = "IOParameters";
    let f = |k: &str| get::<f64>(d, k, O, "a float");
    let b = |k: &str| get::<bool>(d, k, O, "a bool");
    let nm: String = get(d, "noise_management", O, "'abs_max' or 'none'")?;
    let bm: String = get(d, "bound_management", O, "'iterative' or 'none'")?;
    let spec = IoSpec {
        is_perfect: b("is_perfect")?,
        inp_bound: f("inp_bound")?,
        inp_res: f("inp_res")?,
        inp_sto_round: b("inp_sto_round")?,
        inp_noise: f("inp_noise")?,
        out_bound: f("out_bound")?,
        out_res: f("out_res")?,
        out_sto_round: b("out_sto_round")?,
        out_noise: f("out_noise")?,
        out_scale: f("out_scale")?,
        noise_management: match nm.as_str() {
            "abs_max" => NoiseManagement::AbsMax,
            "none" => NoiseManagement::None,
            other => {
                return Err(param_err(
                    "noise_management",
                    O,
                    "'abs_max' or 'none'",
                    other,
                ))
            }
        },
        nm_thres: f("nm_thres")?,
        bound_management: match bm.as_str() {
            "iterative" => BoundManagement::Iterative,
            "none" => BoundManagement::None,
            other => {
                return Err(param_err(
                    "bound_management",
                    O,
                    "'iterative' or 'none'",
                    other,
                ))
            }
        },
        bm_test_negative_bound: b("bm_test_negative_bound")?,
        max_bm_factor: f("max_bm_factor")?,
        max_bm_res: f("max_bm_res")?,
    };
    spec.validate().map_err(to_py)?;
    Ok(spec)
}
