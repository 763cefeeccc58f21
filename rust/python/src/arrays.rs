//! Checked NumPy arrays: owned ndarray copies ([`copy3`]), or the data read in place with the
//! GIL held ([`with_array`], whose checks both share). `_core` is strict: float64 (or int64),
//! C-contiguous, exact rank and shape, checked here before the GIL is released. Finiteness is the core's check
//! (every `Tile` entry point that takes these arrays rejects NaN and inf, naming the argument,
//! before it changes state), made once, on the copy, without the GIL.

use ndarray::Array3;
use numpy::{
    Element, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pulsetrain_core::error::fmt_shape;
use pyo3::prelude::*;

use crate::errors::{ParameterError, ShapeError};

/// Copies a float64 array of rank 3 whose shape matches `want` (`None` = any size there).
pub(crate) fn copy3(
    obj: &Bound<'_, PyAny>,
    name: &str,
    owner: &str,
    want: [Option<usize>; 3],
) -> PyResult<Array3<f64>> {
    copy3_of::<f64>(obj, name, owner, want, "float64")
}

/// Copies an int64 array of rank 3 whose shape matches `want`.
pub(crate) fn copy3_i64(
    obj: &Bound<'_, PyAny>,
    name: &str,
    owner: &str,
    want: [Option<usize>; 3],
) -> PyResult<Array3<i64>> {
    copy3_of::<i64>(obj, name, owner, want, "int64")
}

/// Hands `f` the data of a C-contiguous array of dtype `T` and rank `N` whose shape matches
/// `want` (`None` = any size there), read-only and without a copy, with its shape. `f` runs
/// with the GIL held (the data stays Python's); [`copy3`] copies through it, with the same
/// checks and messages.
pub(crate) fn with_array<T: Element, const N: usize, R>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    owner: &str,
    want: [Option<usize>; N],
    dtype_name: &str,
    f: impl FnOnce(&[T], [usize; N]) -> PyResult<R>,
) -> PyResult<R> {
    let fmt_want = || {
        let dims: Vec<String> = want
            .iter()
            .map(|d| d.map_or_else(|| "B".to_owned(), |v| v.to_string()))
            .collect();
        format!("({})", dims.join(", "))
    };
    let Ok(arr) = obj.cast::<PyUntypedArray>() else {
        let ty = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        return Err(ShapeError::new_err(format!(
            "The '{name}' parameter of {owner} must be a numpy.ndarray of {dtype_name} with shape {}. Got {ty} instead.",
            fmt_want()
        )));
    };
    let dtype = arr.dtype();
    if !dtype.is_equiv_to(&numpy::dtype::<T>(obj.py())) {
        return Err(ShapeError::new_err(format!(
            "The '{name}' parameter of {owner} must be an array of dtype {dtype_name}. Got dtype {} instead.",
            dtype.str().map(|s| s.to_string()).unwrap_or_default()
        )));
    }
    let shape = arr.shape().to_vec();
    let Ok(dims) = <[usize; N]>::try_from(shape.as_slice()) else {
        return Err(ShapeError::new_err(format!(
            "The '{name}' parameter of {owner} must be an array of shape {}. Got an array of shape {} instead.",
            fmt_want(),
            fmt_shape(&shape)
        )));
    };
    if !want
        .iter()
        .zip(&dims)
        .all(|(w, g)| w.is_none_or(|v| v == *g))
    {
        return Err(ShapeError::new_err(format!(
            "The '{name}' parameter of {owner} must be an array of shape {}. Got an array of shape {} instead.",
            fmt_want(),
            fmt_shape(&shape)
        )));
    }
    if !arr.is_c_contiguous() {
        return Err(ShapeError::new_err(format!(
            "The '{name}' parameter of {owner} must be a C-contiguous array. Got a non-contiguous array instead."
        )));
    }
    let typed = arr.cast::<PyArrayDyn<T>>().map_err(|_| {
        ShapeError::new_err(format!(
            "The '{name}' parameter of {owner} must be a {dtype_name} array of rank {N}."
        ))
    })?;
    let ro = typed.try_readonly().map_err(|_| {
        ShapeError::new_err(format!(
            "The '{name}' parameter of {owner} must not be mutably borrowed elsewhere while it is read."
        ))
    })?;
    let data = ro.as_slice().map_err(|_| {
        ShapeError::new_err(format!(
            "The '{name}' parameter of {owner} must be a C-contiguous array. Got a non-contiguous array instead."
        ))
    })?;
    f(data, dims)
}

fn copy3_of<T: Element + Clone>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    owner: &str,
    want: [Option<usize>; 3],
    dtype_name: &str,
) -> PyResult<Array3<T>> {
    with_array::<T, 3, _>(obj, name, owner, want, dtype_name, |flat, dims| {
        // A fallible copy: an array Python holds may still be too large to copy twice.
        let mut data = Vec::new();
        data.try_reserve_exact(flat.len()).map_err(|_| {
            ParameterError::new_err(format!(
                "The '{name}' parameter of {owner} must be small enough to copy. Got an array of shape {} instead.",
                fmt_shape(&dims)
            ))
        })?;
        // C-contiguous (checked): one slice copy; the element iterator of a rank-3 view had
        // cost microseconds per call on a layer's batch.
        data.extend_from_slice(flat);
        Array3::from_shape_vec(dims, data).map_err(|_| {
            ShapeError::new_err(format!(
                "The '{name}' parameter of {owner} must be an array of shape {}.",
                fmt_shape(&dims)
            ))
        })
    })
}
