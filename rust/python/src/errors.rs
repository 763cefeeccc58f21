//! Exhaustive mapping of `CoreError` onto the Python exception tree of `pulsetrain.errors`.

use pulsetrain_core::CoreError;
use pyo3::prelude::*;

pyo3::import_exception!(pulsetrain.errors, ParameterError);
pyo3::import_exception!(pulsetrain.errors, ShapeError);
pyo3::import_exception!(pulsetrain.errors, NonFiniteError);

/// Converts a core error; no `_ =>` arm, so a new variant does not compile until mapped.
pub(crate) fn to_py(e: CoreError) -> PyErr {
    match &e {
        CoreError::InvalidParameter { .. } => ParameterError::new_err(e.to_string()),
        CoreError::Shape { .. } => ShapeError::new_err(e.to_string()),
        CoreError::NonFinite { .. } => NonFiniteError::new_err(e.to_string()),
        CoreError::Interrupted { .. } => {
            pyo3::exceptions::PyKeyboardInterrupt::new_err(e.to_string())
        }
    }
}

/// A `ParameterError` with the house template.
pub(crate) fn param_err(
    name: &str,
    owner: &str,
    allowed: &str,
    value: impl std::fmt::Debug,
) -> PyErr {
    to_py(CoreError::param(name, owner, allowed, value))
}
