//! `#[pyclass] Tile`: extract and validate, copy, `run_detached`, wrap.

use numpy::{IntoPyArray, PyArray1, PyArray3};
use pulsetrain_core::{Phase, Tile as CoreTile};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{copy3, copy3_i64};
use crate::detach::run_detached;
use crate::errors::{param_err, to_py};
use crate::spec;

/// Parses a 128-bit Philox key given as two Python ints in [0, 2**64).
pub(crate) fn parse_key(key: &Bound<'_, PyAny>, owner: &str) -> PyResult<[u64; 2]> {
    let v: Vec<u64> = key.extract().map_err(|_| {
        param_err(
            "key",
            owner,
            "a sequence of two ints in the range [0, 2**64)",
            key.to_string(),
        )
    })?;
    match v.as_slice() {
        [a, b] => Ok([*a, *b]),
        _ => Err(param_err(
            "key",
            owner,
            "a sequence of two ints in the range [0, 2**64)",
            v,
        )),
    }
}

fn phase(p: i64) -> PyResult<Phase> {
    Phase::from_index(p).map_err(to_py)
}

fn positive_usize(v: i64, name: &str) -> PyResult<usize> {
    usize::try_from(v)
        .ok()
        .filter(|&u| u >= 1)
        .ok_or_else(|| param_err(name, "Tile", "an int in the range [1, 16777216]", v))
}

/// R replicas of an analog crossbar (see `pulsetrain.AnalogTile` for the documented façade).
#[pyclass(module = "pulsetrain._core", name = "Tile")]
pub(crate) struct Tile {
    inner: CoreTile,
}

impl Tile {
    /// `[R, out, in]` as a shape pattern for `copy3`.
    fn full_shape(&self) -> [Option<usize>; 3] {
        [
            Some(self.inner.replicas()),
            Some(self.inner.out_size()),
            Some(self.inner.in_size()),
        ]
    }

    /// Checked column indices for the read methods.
    fn columns(&self, cols: Vec<i64>) -> PyResult<Vec<usize>> {
        let n_in = self.inner.in_size();
        cols.into_iter()
            .map(|c| {
                usize::try_from(c)
                    .ok()
                    .filter(|&u| u < n_in)
                    .ok_or_else(|| {
                        param_err(
                            "cols",
                            "Tile.read",
                            &format!("column indices in the range [0, {n_in})"),
                            c,
                        )
                    })
            })
            .collect()
    }

    /// Forward (`transpose` false, x of width in) or backward (d of width out) passes.
    fn directed<'py>(
        &mut self,
        py: Python<'py>,
        arr: &Bound<'py, PyAny>,
        io: &Bound<'py, PyDict>,
        n_threads: Option<i64>,
        transpose: bool,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let (r, o, i) = (
            self.inner.replicas(),
            self.inner.out_size(),
            self.inner.in_size(),
        );
        let (name, owner, width) = if transpose {
            ("d", "Tile.backward", o)
        } else {
            ("x", "Tile.forward", i)
        };
        let a = copy3(arr, name, owner, [Some(r), None, Some(width)])?;
        let io = spec::io(io)?;
        let inner = &mut self.inner;
        let y = run_detached(py, n_threads, move |par| {
            if transpose {
                inner.backward(a.view(), &io, par)
            } else {
                inner.forward(a.view(), &io, par)
            }
        })?
        .map_err(to_py)?;
        Ok(y.into_pyarray(py))
    }
}

#[pymethods]
impl Tile {
    #[new]
    #[pyo3(signature = (spec, update, out_size, in_size, replicas, key, replica_offset = 0))]
    fn new(
        py: Python<'_>,
        spec: &Bound<'_, PyDict>,
        update: &Bound<'_, PyDict>,
        out_size: i64,
        in_size: i64,
        replicas: i64,
        key: &Bound<'_, PyAny>,
        replica_offset: i64,
    ) -> PyResult<Self> {
        let device = spec::device(spec)?;
        let mode = spec::update(update)?;
        let out_size = positive_usize(out_size, "out_size")?;
        let in_size = positive_usize(in_size, "in_size")?;
        let replicas = positive_usize(replicas, "replicas")?;
        let key = parse_key(key, "Tile")?;
        let offset = u64::try_from(replica_offset).map_err(|_| {
            param_err(
                "replica_offset",
                "Tile",
                "an int in the range [0, 2**32 - replicas]",
                replica_offset,
            )
        })?;
        let inner = run_detached(py, None, move |par| {
            CoreTile::new(device, mode, out_size, in_size, replicas, key, offset, par)
        })?
        .map_err(to_py)?;
        Ok(Tile { inner })
    }

    /// Number of replicas.
    #[getter]
    fn replicas(&self) -> usize {
        self.inner.replicas()
    }
    /// Rows.
    #[getter]
    fn out_size(&self) -> usize {
        self.inner.out_size()
    }
    /// Columns.
    #[getter]
    fn in_size(&self) -> usize {
        self.inner.in_size()
    }
    /// Global index of the first replica.
    #[getter]
    fn replica_offset(&self) -> u64 {
        self.inner.replica_offset()
    }
    /// Calls that advanced the random streams.
    #[getter]
    fn tick(&self) -> u64 {
        self.inner.tick()
    }

    /// Logical weights (physical − reference), (R, out, in).
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        self.inner.weights().into_pyarray(py)
    }

    /// Physical state, (R, out, in).
    fn physical_weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        self.inner.physical_weights().into_pyarray(py)
    }

    /// Programs logical weights (clipped to the element bounds; no pulses counted).
    fn set_weights(&mut self, weights: &Bound<'_, PyAny>) -> PyResult<()> {
        let shape = self.full_shape();
        let w = copy3(weights, "weights", "Tile.set_weights", shape)?;
        self.inner.set_weights(w.view()).map_err(to_py)
    }

    /// Programs the physical state directly (clipped to the element bounds).
    fn set_physical_weights(&mut self, weights: &Bound<'_, PyAny>) -> PyResult<()> {
        let shape = self.full_shape();
        let w = copy3(
            weights,
            "physical_weights",
            "Tile.set_physical_weights",
            shape,
        )?;
        self.inner.set_physical_state(w.view()).map_err(to_py)
    }

    /// ΔW = −lr Σ_b d_b x_bᵀ in the tile's mode; returns pulses per replica.
    #[pyo3(signature = (x, d, lr, phase, n_threads = None))]
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        d: &Bound<'py, PyAny>,
        lr: f64,
        phase: i64,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        const O: &str = "Tile.update";
        let ph = self::phase(phase)?;
        let (r, o, i) = (
            self.inner.replicas(),
            self.inner.out_size(),
            self.inner.in_size(),
        );
        let x = copy3(x, "x", O, [Some(r), None, Some(i)])?;
        let b = x.shape().get(1).copied().unwrap_or(0);
        let d = copy3(d, "d", O, [Some(r), Some(b), Some(o)])?;
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(param_err("lr", O, "a float in the range [0, inf)", lr));
        }
        let inner = &mut self.inner;
        let stats = run_detached(py, n_threads, move |par| {
            inner.update(x.view(), d.view(), lr, ph, par)
        })?
        .map_err(to_py)?;
        Ok(pulsetrain_core::tile::stats_array(&stats).into_pyarray(py))
    }

    /// Applies a desired increment ΔW (expected and pulse-count modes).
    #[pyo3(signature = (delta, phase, n_threads = None))]
    fn apply_delta<'py>(
        &mut self,
        py: Python<'py>,
        delta: &Bound<'py, PyAny>,
        phase: i64,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        const O: &str = "Tile.apply_delta";
        let ph = self::phase(phase)?;
        let shape = self.full_shape();
        let delta = copy3(delta, "delta", O, shape)?;
        let inner = &mut self.inner;
        let stats = run_detached(py, n_threads, move |par| {
            inner.apply_delta(delta.view(), ph, par)
        })?
        .map_err(to_py)?;
        Ok(pulsetrain_core::tile::stats_array(&stats).into_pyarray(py))
    }

    /// Fires exact pulse trains: |n| pulses of sign(n) per element, in any update mode.
    #[pyo3(signature = (counts, phase, n_threads = None))]
    fn apply_pulses<'py>(
        &mut self,
        py: Python<'py>,
        counts: &Bound<'py, PyAny>,
        phase: i64,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray1<u64>>> {
        const O: &str = "Tile.apply_pulses";
        let ph = self::phase(phase)?;
        let shape = self.full_shape();
        let counts = copy3_i64(counts, "counts", O, shape)?;
        let inner = &mut self.inner;
        let stats = run_detached(py, n_threads, move |par| {
            inner.apply_pulses(counts.view(), ph, par)
        })?
        .map_err(to_py)?;
        Ok(pulsetrain_core::tile::stats_array(&stats).into_pyarray(py))
    }

    /// Reads columns of the logical weights with Gaussian read noise; (R, out, len(cols)).
    #[pyo3(signature = (cols, noise_std = 0.0, n_threads = None))]
    fn read<'py>(
        &mut self,
        py: Python<'py>,
        cols: Vec<i64>,
        noise_std: f64,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let idx = self.columns(cols)?;
        let inner = &mut self.inner;
        let out = run_detached(py, n_threads, move |par| {
            inner.read_columns(&idx, noise_std, par)
        })?
        .map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    /// Zero-shift calibration: N pulses per element (stochastic or cyclic signs), counted as
    /// calibration; returns the physical state averaged over the last `average_last` pulses.
    #[pyo3(signature = (n_pulses, cyclic, average_last = 1, n_threads = None))]
    fn zero_shift<'py>(
        &mut self,
        py: Python<'py>,
        n_pulses: i64,
        cyclic: bool,
        average_last: i64,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let n = u64::try_from(n_pulses).map_err(|_| {
            param_err(
                "n_pulses",
                "zero_shift",
                "an int in the range [1, 1000000000]",
                n_pulses,
            )
        })?;
        let m = u64::try_from(average_last).map_err(|_| {
            param_err(
                "average_last",
                "zero_shift",
                "an int in the range [1, n_pulses]",
                average_last,
            )
        })?;
        let inner = &mut self.inner;
        let out = run_detached(py, n_threads, move |par| {
            inner.zero_shift(n, cyclic, m, par)
        })?
        .map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    /// Programs the physical reference of every element, (R, out, in).
    fn set_reference(&mut self, reference: &Bound<'_, PyAny>) -> PyResult<()> {
        let shape = self.full_shape();
        let r = copy3(reference, "reference", "Tile.set_reference", shape)?;
        self.inner.set_reference(r.view()).map_err(to_py)
    }

    /// Forward pass y = IO(W x) per sample through the periphery; x (R, B, in) → (R, B, out).
    #[pyo3(signature = (x, io, n_threads = None))]
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        io: &Bound<'py, PyDict>,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        self.directed(py, x, io, n_threads, false)
    }

    /// Backward pass Wᵀ d per sample through the periphery; d (R, B, out) → (R, B, in).
    #[pyo3(signature = (d, io, n_threads = None))]
    fn backward<'py>(
        &mut self,
        py: Python<'py>,
        d: &Bound<'py, PyAny>,
        io: &Bound<'py, PyDict>,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        self.directed(py, d, io, n_threads, true)
    }

    /// Reads columns through the periphery (one-hot forward passes); (R, out, len(cols)).
    #[pyo3(signature = (cols, io, n_threads = None))]
    fn read_io<'py>(
        &mut self,
        py: Python<'py>,
        cols: Vec<i64>,
        io: &Bound<'py, PyDict>,
        n_threads: Option<i64>,
    ) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let idx = self.columns(cols)?;
        let io = spec::io(io)?;
        let inner = &mut self.inner;
        let out = run_detached(py, n_threads, move |par| {
            inner.read_columns_io(&idx, &io, par)
        })?
        .map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    /// Pulse counters of a phase, (R, out, in) uint64.
    fn pulse_counts<'py>(
        &self,
        py: Python<'py>,
        phase: i64,
    ) -> PyResult<Bound<'py, PyArray3<u64>>> {
        Ok(self
            .inner
            .pulse_counts(self::phase(phase)?)
            .into_pyarray(py))
    }

    /// Zeroes the counters of one phase (or all).
    #[pyo3(signature = (phase = None))]
    fn reset_pulse_counts(&mut self, phase: Option<i64>) -> PyResult<()> {
        let p = phase.map(self::phase).transpose()?;
        self.inner.reset_pulse_counts(p);
        Ok(())
    }

    /// Per-element device maps: step_up, step_down, w_min, w_max, reference, symmetric_point.
    fn maps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let inner = &self.inner;
        let ([lo, hi, up, dn], rf, sp) = run_detached(py, None, move |par| {
            (
                inner.map_arrays(),
                inner.reference(),
                inner.symmetric_points(par),
            )
        })?;
        let out = PyDict::new(py);
        out.set_item("step_up", up.into_pyarray(py))?;
        out.set_item("step_down", dn.into_pyarray(py))?;
        out.set_item("w_min", lo.into_pyarray(py))?;
        out.set_item("w_max", hi.into_pyarray(py))?;
        out.set_item("reference", rf.into_pyarray(py))?;
        out.set_item("symmetric_point", sp.into_pyarray(py))?;
        Ok(out)
    }

    /// The 128-bit Philox key as two ints (the maps and every stream derive from it).
    #[getter]
    fn key(&self) -> (u64, u64) {
        let [a, b] = self.inner.key();
        (a, b)
    }

    /// Sets the stream tick (restoring a checkpoint): the next call draws from `tick`.
    fn set_tick(&mut self, tick: i64) -> PyResult<()> {
        let t = u64::try_from(tick).map_err(|_| {
            param_err(
                "tick",
                "Tile.set_tick",
                "an int in the range [0, 2**63)",
                tick,
            )
        })?;
        self.inner.set_tick(t);
        Ok(())
    }

    /// Restores the pulse counters of one phase from a uint64 array of shape (R, out, in).
    fn set_pulse_counts(&mut self, phase: i64, counts: &Bound<'_, PyAny>) -> PyResult<()> {
        const O: &str = "Tile.set_pulse_counts";
        let ph = self::phase(phase)?;
        let arr: numpy::PyReadonlyArray3<'_, u64> = counts.extract().map_err(|_| {
            crate::errors::ShapeError::new_err(format!(
                "The 'counts' parameter of {O} must be a numpy.ndarray of uint64 and rank 3. Got {} instead.",
                counts.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        self.inner
            .set_pulse_counts(ph, arr.as_array())
            .map_err(to_py)
    }

    /// The reference of every element, (R, out, in): a copy, without the maps' bisections.
    fn reference<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray3<f64>> {
        self.inner.reference().into_pyarray(py)
    }
}
