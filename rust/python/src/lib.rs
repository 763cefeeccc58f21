//! `pulsetrain._core`: the thin PyO3 bridge to `pulsetrain-core`. Every method extracts and
//! validates, copies into Rust-owned buffers, runs the kernel without the GIL, and wraps.

mod arrays;
mod detach;
mod errors;
mod spec;
mod tile;

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3};
use pulsetrain_core::rng::Stream;
use pulsetrain_core::tile::{check_alloc, f64_bytes};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::param_err;

fn open(
    key: &Bound<'_, PyAny>,
    counter: Vec<u64>,
    n: i64,
    owner: &str,
) -> PyResult<(Stream, usize)> {
    let key = tile::parse_key(key, owner)?;
    let counter: [u64; 4] = counter.try_into().map_err(|c: Vec<u64>| {
        param_err(
            "counter",
            owner,
            "a sequence of four ints in the range [0, 2**64)",
            c,
        )
    })?;
    let n = usize::try_from(n)
        .ok()
        .filter(|&v| v <= 1 << 28)
        .ok_or_else(|| param_err("n", owner, "an int in the range [0, 268435456]", n))?;
    check_alloc("n", owner, n, f64_bytes(&[n])).map_err(errors::to_py)?;
    Ok((Stream::with_counter(key, counter), n))
}

/// Raw 32-bit Philox4x32-10 words of the stream at address `counter` (KERNEL_SPEC §3).
#[pyfunction]
fn philox_raw<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    counter: Vec<u64>,
    n: i64,
) -> PyResult<Bound<'py, PyArray1<u32>>> {
    let (mut s, n) = open(key, counter, n, "philox_raw")?;
    Ok((0..n)
        .map(|_| s.next_u32())
        .collect::<Vec<_>>()
        .into_pyarray(py))
}

/// Uniform doubles `x·2⁻³²` of the stream's 32-bit words.
#[pyfunction]
fn uniforms<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    counter: Vec<u64>,
    n: i64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (mut s, n) = open(key, counter, n, "uniforms")?;
    Ok((0..n)
        .map(|_| s.uniform())
        .collect::<Vec<_>>()
        .into_pyarray(py))
}

/// Standard normals of the stream (the 32-bit ziggurat of KERNEL_SPEC §3).
#[pyfunction]
fn normals<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    counter: Vec<u64>,
    n: i64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (mut s, n) = open(key, counter, n, "normals")?;
    Ok((0..n)
        .map(|_| s.normal())
        .collect::<Vec<_>>()
        .into_pyarray(py))
}

/// The checked (replicas, n, tag) of a replica draw, then the draws `(R, n)`: the one body of
/// [`replica_normals`] and [`replica_uniforms`].
#[allow(clippy::too_many_arguments)]
fn replica_draws<'py>(
    py: Python<'py>,
    owner: &str,
    key: &Bound<'py, PyAny>,
    tick: u64,
    replica_offset: u64,
    replicas: i64,
    n: i64,
    tag: u64,
    n_threads: Option<i64>,
    draw: fn(&mut Stream) -> f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let key = tile::parse_key(key, owner)?;
    let r = usize::try_from(replicas)
        .ok()
        .filter(|&v| (1..=1 << 24).contains(&v))
        .ok_or_else(|| {
            param_err(
                "replicas",
                owner,
                "an int in the range [1, 16777216]",
                replicas,
            )
        })?;
    let n = usize::try_from(n)
        .ok()
        .filter(|&v| v.checked_mul(r).is_some_and(|t| t <= 1 << 30))
        .ok_or_else(|| param_err("n", owner, "an int >= 0 with replicas*n <= 2**30", n))?;
    if tag > 255 {
        return Err(param_err("tag", owner, "an int in the range [0, 255]", tag));
    }
    // Replica indices are 32 bits in the stream address (as for a Tile).
    let max_offset = (1u64 << 32) - r as u64;
    if replica_offset > max_offset {
        return Err(param_err(
            "replica_offset",
            owner,
            &format!("an int in the range [0, {max_offset}]"),
            replica_offset,
        ));
    }
    check_alloc("n", owner, n, f64_bytes(&[r, n])).map_err(errors::to_py)?;
    let v = detach::run_detached(py, n_threads, move |par| {
        pulsetrain_core::rng::replica_draws(key, tick, replica_offset, r, n, tag, draw, par)
    })?;
    let arr = ndarray::Array2::from_shape_vec((r, n), v)
        .map_err(|_| param_err("n", owner, "a size that fits in memory", n))?;
    Ok(arr.into_pyarray(py))
}

/// Standard normals of R replicas' streams `(key, tick, replica_offset + r, 0, tag)`, (R, n).
#[pyfunction]
#[pyo3(signature = (key, tick, replica_offset, replicas, n, tag = 7, n_threads = None))]
fn replica_normals<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    tick: u64,
    replica_offset: u64,
    replicas: i64,
    n: i64,
    tag: u64,
    n_threads: Option<i64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    replica_draws(
        py,
        "replica_normals",
        key,
        tick,
        replica_offset,
        replicas,
        n,
        tag,
        n_threads,
        Stream::normal,
    )
}

/// Uniforms in [0, 1) of R replicas' streams `(key, tick, replica_offset + r, 0, tag)`, (R, n).
#[pyfunction]
#[pyo3(signature = (key, tick, replica_offset, replicas, n, tag = 7, n_threads = None))]
fn replica_uniforms<'py>(
    py: Python<'py>,
    key: &Bound<'py, PyAny>,
    tick: u64,
    replica_offset: u64,
    replicas: i64,
    n: i64,
    tag: u64,
    n_threads: Option<i64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    replica_draws(
        py,
        "replica_uniforms",
        key,
        tick,
        replica_offset,
        replicas,
        n,
        tag,
        n_threads,
        Stream::uniform,
    )
}

/// `W x` of R matrices and R·B inputs, each output summed in index order from 0.0 without FMA
/// (KERNEL_SPEC §7): w (R, out, in) and x (R, B, in) give (R, B, out); with `transpose`,
/// `Wᵀ x`: x (R, B, out) gives (R, B, in). The same bits for any thread count and on every
/// CPU; the twin's `exact_products` replays them.
#[pyfunction]
#[pyo3(signature = (w, x, transpose = false, n_threads = None))]
fn exact_products<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    x: &Bound<'py, PyAny>,
    transpose: bool,
    n_threads: Option<i64>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let owner = "exact_products";
    let w = arrays::copy3(w, "w", owner, [None, None, None])?;
    let (r, o, i) = w.dim();
    let (width, len_y) = if transpose { (o, i) } else { (i, o) };
    let x = arrays::copy3(x, "x", owner, [Some(r), None, Some(width)])?;
    let b = x.dim().1;
    check_alloc("x", owner, b, f64_bytes(&[r, b, len_y])).map_err(errors::to_py)?;
    let y = detach::run_detached(py, n_threads, move |par| {
        let (ws, xs) = (w.as_slice().unwrap_or(&[]), x.as_slice().unwrap_or(&[]));
        pulsetrain_core::periphery::exact_products(ws, xs, (r, o, i, b), transpose, par)
    })?;
    let arr = ndarray::Array3::from_shape_vec((r, b, len_y), y)
        .map_err(|_| param_err("x", owner, "a size that fits in memory", b))?;
    Ok(arr.into_pyarray(py))
}

/// Least squares' minibatch factors: per replica r the rows `rows[r]` of `a` (R, n, in) and
/// `b` (R, n, out) gathered as x (R, B, in) and t, and `d = (W_r x − t) / B` (R, B, out), the
/// products summed as [`exact_products`] sums them. Returns `(x, d)`: the bits of NumPy's
/// `take` and `(exact_products(w, x) - t) / B`, which the twin computes.
#[pyfunction]
#[pyo3(signature = (w, a, b, rows, n_threads = None))]
#[allow(clippy::type_complexity)]
fn gathered_residuals<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    rows: &Bound<'py, PyAny>,
    n_threads: Option<i64>,
) -> PyResult<(Bound<'py, PyArray3<f64>>, Bound<'py, PyArray3<f64>>)> {
    let owner = "gathered_residuals";
    let w = arrays::copy3(w, "w", owner, [None, None, None])?;
    let (r, o, i) = w.dim();
    // The gathers read a and b in place, with the GIL held; only the products run without it.
    let (x, t, bsz) = arrays::with_array::<i64, 2, _>(
        rows,
        "rows",
        owner,
        [Some(r), None],
        "int64",
        |idx, [_, bsz]| {
            let gather = |src: &Bound<'py, PyAny>, name: &str, n: Option<usize>, width: usize| {
                arrays::with_array::<f64, 3, _>(
                    src,
                    name,
                    owner,
                    [Some(r), n, Some(width)],
                    "float64",
                    |data, [_, n, _]| {
                        check_alloc(name, owner, bsz, f64_bytes(&[r, bsz, width]))
                            .map_err(errors::to_py)?;
                        pulsetrain_core::periphery::gather_rows(
                            data,
                            idx,
                            (r, n, width, bsz),
                            owner,
                        )
                        .map(|v| (v, n))
                        .map_err(errors::to_py)
                    },
                )
            };
            let (x, n) = gather(a, "a", None, i)?;
            let (t, _) = gather(b, "b", Some(n), o)?;
            Ok((x, t, bsz))
        },
    )?;
    let (x, d) = detach::run_detached(py, n_threads, move |par| {
        let d = pulsetrain_core::periphery::mean_residuals(
            w.as_slice().unwrap_or(&[]),
            &x,
            &t,
            (r, o, i, bsz),
            par,
        );
        (x, d)
    })?;
    let shape_err = || param_err("rows", owner, "a size that fits in memory", bsz);
    let x = ndarray::Array3::from_shape_vec((r, bsz, i), x).map_err(|_| shape_err())?;
    let d = ndarray::Array3::from_shape_vec((r, bsz, o), d).map_err(|_| shape_err())?;
    Ok((x.into_pyarray(py), d.into_pyarray(py)))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("rng_scheme", pulsetrain_core::RNG_SCHEME)?;
    m.add(
        "build_profile",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    )?;
    m.add("default_threads", detach::default_threads())?;
    m.add("parallel_min_work", pulsetrain_core::par::PARALLEL_MIN_WORK)?;
    m.add("alloc_budget", pulsetrain_core::tile::alloc_budget())?;
    m.add("chunk_work", pulsetrain_core::tile::CHUNK_WORK)?;
    m.add(
        "FAMILY_NAMES",
        PyTuple::new(py, pulsetrain_core::FAMILY_NAMES.iter().copied())?,
    )?;
    m.add(
        "UPDATE_KINDS",
        PyTuple::new(py, pulsetrain_core::UPDATE_KINDS.iter().copied())?,
    )?;
    let tags = PyDict::new(py);
    for (name, t) in pulsetrain_core::TAGS {
        tags.set_item(*name, *t)?;
    }
    m.add("TAGS", tags)?;
    m.add_class::<tile::Tile>()?;
    m.add_function(wrap_pyfunction!(philox_raw, m)?)?;
    m.add_function(wrap_pyfunction!(uniforms, m)?)?;
    m.add_function(wrap_pyfunction!(normals, m)?)?;
    m.add_function(wrap_pyfunction!(replica_normals, m)?)?;
    m.add_function(wrap_pyfunction!(replica_uniforms, m)?)?;
    m.add_function(wrap_pyfunction!(exact_products, m)?)?;
    m.add_function(wrap_pyfunction!(gathered_residuals, m)?)?;
    Ok(())
}
