//! Replica-batched tiles: R independent out×in crossbars with their device maps and pulse
//! counters. This file holds the state, its construction, accessors, setters and counters;
//! the kernels live by job in `update/`, `calibration`, `periphery` and `pulse`.
//!
//! Work is split by rows (`ROWS_PER_TASK` rows of one replica at least per rayon task); every
//! row draws from its own Philox stream, so no value depends on the thread count or on the
//! scheduling, and per-row pulse totals are combined serially in row order. Every call that
//! draws random numbers takes its streams from `Tile::next_tick`, which advances the tick.

use ndarray::{Array1, Array3, ArrayView3};

use crate::error::CoreError;
use crate::par::{for_each_row, Par};
use crate::pulse::clip;
use crate::rng::{tag, Stream};
use crate::spec::{DeviceSpec, UpdateMode};
use crate::variation::{draw_map, ElemMap};

/// Largest tile dimension accepted (rows and columns are addressed with 32 bits).
pub const MAX_DIM: usize = 1 << 24;

/// Largest replica count accepted.
pub const MAX_REPLICAS: usize = 1 << 24;

/// A pulse-accounting phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Gradient updates.
    Update = 0,
    /// Transfers between arrays.
    Transfer = 1,
    /// Calibration (zero-shifting).
    Calibration = 2,
}

impl Phase {
    /// The phase with the given index (0, 1, 2).
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] for any other index. Never panics.
    pub fn from_index(i: i64) -> Result<Phase, CoreError> {
        match i {
            0 => Ok(Phase::Update),
            1 => Ok(Phase::Transfer),
            2 => Ok(Phase::Calibration),
            _ => Err(CoreError::param(
                "phase",
                "Tile",
                "0 (update), 1 (transfer) or 2 (calibration)",
                i,
            )),
        }
    }
}

/// Pulses fired by one call, per replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateStats {
    /// Total pulses per local replica.
    pub pulses: Vec<u64>,
}

/// R replicas of an out×in analog crossbar.
#[derive(Clone, Debug)]
pub struct Tile {
    pub(crate) device: DeviceSpec,
    pub(crate) mode: UpdateMode,
    pub(crate) replicas: usize,
    pub(crate) out_size: usize,
    pub(crate) in_size: usize,
    pub(crate) replica_offset: u64,
    pub(crate) key: [u64; 2],
    pub(crate) tick: u64,
    pub(crate) state: Vec<f64>,
    pub(crate) maps: Vec<ElemMap>,
    pub(crate) reference: Vec<f64>,
    pub(crate) counters: [Vec<u64>; 3],
}

/// The stream addresses of one call: the tile's key, the call's tick, the replica offset and
/// the row count (docs/KERNEL_SPEC.md §3). Copied into kernels, so they need no `&Tile`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Streams {
    key: [u64; 2],
    tick: u64,
    replica_offset: u64,
    out_size: usize,
}

impl Streams {
    /// The stream of global row `g` (local replica `g / out`, row `g % out`) for `tag`.
    #[inline]
    pub(crate) fn row_stream(&self, g: usize, tag: u64) -> Stream {
        self.open(
            g / self.out_size.max(1),
            (g % self.out_size.max(1)) as u64,
            tag,
            0,
        )
    }

    /// The stream `(tick, replica_offset + r, row, tag, sample)`.
    #[inline]
    pub(crate) fn open(&self, r: usize, row: u64, tag: u64, sample: u64) -> Stream {
        Stream::open(
            self.key,
            self.tick,
            self.replica_offset + r as u64,
            row,
            tag,
            sample,
        )
    }
}

impl Tile {
    /// Builds a tile and draws its device-to-device maps on the construction streams.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] for a bad device, mode or size. Never panics.
    pub fn new(
        device: DeviceSpec,
        mode: UpdateMode,
        out_size: usize,
        in_size: usize,
        replicas: usize,
        key: [u64; 2],
        replica_offset: u64,
        par: Par<'_>,
    ) -> Result<Tile, CoreError> {
        device.validate()?;
        mode.validate()?;
        let dim = format!("an int in the range [1, {MAX_DIM}]");
        if !(1..=MAX_DIM).contains(&out_size) {
            return Err(CoreError::param("out_size", "Tile", dim, out_size));
        }
        if !(1..=MAX_DIM).contains(&in_size) {
            return Err(CoreError::param("in_size", "Tile", dim, in_size));
        }
        if !(1..=MAX_REPLICAS).contains(&replicas) {
            return Err(CoreError::param(
                "replicas",
                "Tile",
                format!("an int in the range [1, {MAX_REPLICAS}]"),
                replicas,
            ));
        }
        let max_offset = (1u64 << 32) - replicas as u64;
        if replica_offset > max_offset {
            return Err(CoreError::param(
                "replica_offset",
                "Tile",
                format!("an int in the range [0, {max_offset}]"),
                replica_offset,
            ));
        }
        let n = replicas
            .checked_mul(out_size)
            .and_then(|v| v.checked_mul(in_size))
            .filter(|&v| v <= (1usize << 34))
            .ok_or_else(|| {
                CoreError::param(
                    "out_size",
                    "Tile",
                    "such that replicas*out_size*in_size <= 2**34",
                    out_size,
                )
            })?;
        // Allocate fallibly: a tile too large for memory is an error, never an abort.
        let zero_map = ElemMap {
            lo: 0.0,
            hi: 0.0,
            up: 0.0,
            dn: 0.0,
        };
        // Each element's map and reference, drawn row by row; then the state starts at the
        // reference, clipped to the element's bounds.
        let mut drawn = filled(n, (zero_map, 0.0))?;
        let d = &device;
        par.run(n, |parallel| {
            for_each_row(parallel, &mut drawn, in_size, |g, row| {
                let r = replica_offset + (g / out_size) as u64;
                let i = (g % out_size) as u64;
                let mut s = Stream::open(key, 0, r, i, tag::CONSTRUCTION, 0);
                for (m, rf) in row {
                    *m = draw_map(d, &mut s, rf);
                }
            });
        });
        let mut maps = filled(n, zero_map)?;
        let mut reference = filled(n, 0.0)?;
        let mut state = filled(n, 0.0)?;
        let counters = [filled(n, 0u64)?, filled(n, 0u64)?, filled(n, 0u64)?];
        for (((m, rf), p), (dm, drf)) in maps
            .iter_mut()
            .zip(reference.iter_mut())
            .zip(state.iter_mut())
            .zip(drawn)
        {
            *m = dm;
            *rf = drf;
            *p = clip(drf, dm.lo, dm.hi);
        }
        Ok(Tile {
            device,
            mode,
            replicas,
            out_size,
            in_size,
            replica_offset,
            key,
            tick: 0,
            state,
            maps,
            reference,
            counters,
        })
    }

    /// Number of replicas R.
    pub fn replicas(&self) -> usize {
        self.replicas
    }
    /// Rows (outputs).
    pub fn out_size(&self) -> usize {
        self.out_size
    }
    /// Columns (inputs).
    pub fn in_size(&self) -> usize {
        self.in_size
    }
    /// Global index of local replica 0.
    pub fn replica_offset(&self) -> u64 {
        self.replica_offset
    }
    /// Calls made so far that drew random numbers (the stream tick).
    pub fn tick(&self) -> u64 {
        self.tick
    }
    /// The device.
    pub fn device(&self) -> &DeviceSpec {
        &self.device
    }
    /// The update mode.
    pub fn mode(&self) -> &UpdateMode {
        &self.mode
    }

    pub(crate) fn shape(&self) -> (usize, usize, usize) {
        (self.replicas, self.out_size, self.in_size)
    }

    pub(crate) fn to_array<T: Clone>(&self, v: &[T]) -> Array3<T> {
        Array3::from_shape_vec(self.shape(), v.to_vec())
            .unwrap_or_else(|_| unreachable!("buffer length is R*out*in by construction"))
    }

    /// Logical (read-out) weights, physical state minus reference, shape (R, out, in).
    pub fn weights(&self) -> Array3<f64> {
        let v: Vec<f64> = self
            .state
            .iter()
            .zip(&self.reference)
            .map(|(p, r)| p - r)
            .collect();
        self.to_array(&v)
    }

    /// Physical conductance state, shape (R, out, in).
    pub fn physical_weights(&self) -> Array3<f64> {
        self.to_array(&self.state)
    }

    /// Reference offsets, shape (R, out, in).
    pub fn reference(&self) -> Array3<f64> {
        self.to_array(&self.reference)
    }

    /// Element maps as arrays: (lo, hi, up, dn), each (R, out, in).
    pub fn map_arrays(&self) -> [Array3<f64>; 4] {
        let lo: Vec<f64> = self.maps.iter().map(|m| m.lo).collect();
        let hi: Vec<f64> = self.maps.iter().map(|m| m.hi).collect();
        let up: Vec<f64> = self.maps.iter().map(|m| m.up).collect();
        let dn: Vec<f64> = self.maps.iter().map(|m| m.dn).collect();
        [
            self.to_array(&lo),
            self.to_array(&hi),
            self.to_array(&up),
            self.to_array(&dn),
        ]
    }

    /// Each element's symmetric point of the physical state (NaN for `Ideal`), (R, out, in).
    pub fn symmetric_points(&self, par: Par<'_>) -> Array3<f64> {
        let f = self.device.family;
        let mut v = vec![0.0; self.maps.len()];
        // Bisection costs ~100 response evaluations per element: parallel from 1/64 the size.
        par.run(self.maps.len() * 64, |parallel| {
            let maps = &self.maps;
            let i = self.in_size;
            for_each_row(parallel, &mut v, i, |g, row| {
                for (out, m) in row.iter_mut().zip(maps.get(g * i..).unwrap_or(&[])) {
                    *out = f.symmetric_point(m.lo, m.hi, m.up, m.dn);
                }
            });
        });
        self.to_array(&v)
    }

    /// Pulse counters of one phase, (R, out, in).
    pub fn pulse_counts(&self, phase: Phase) -> Array3<u64> {
        self.to_array(&self.counters[phase as usize])
    }

    /// Zeroes the counters of one phase, or of all phases.
    pub fn reset_pulse_counts(&mut self, phase: Option<Phase>) {
        match phase {
            Some(p) => self.counters[p as usize].iter_mut().for_each(|c| *c = 0),
            None => self.counters.iter_mut().flatten().for_each(|c| *c = 0),
        }
    }
    pub(crate) fn check_shape(
        name: &str,
        owner: &str,
        got: &[usize],
        want: [usize; 3],
    ) -> Result<(), CoreError> {
        if got == want {
            Ok(())
        } else {
            Err(CoreError::shape(name, owner, &want, got))
        }
    }

    /// Programs the logical weights: p = clip(W + reference, lo, hi). Not counted as pulses.
    ///
    /// # Errors
    /// [`CoreError::Shape`] or [`CoreError::NonFinite`]; the tile is then unchanged. Never panics.
    pub fn set_weights(&mut self, w: ArrayView3<'_, f64>) -> Result<(), CoreError> {
        let (r, o, i) = self.shape();
        Self::check_shape("weights", "Tile.set_weights", w.shape(), [r, o, i])?;
        if w.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite("weights", "Tile.set_weights"));
        }
        for (((p, m), rf), v) in self
            .state
            .iter_mut()
            .zip(&self.maps)
            .zip(&self.reference)
            .zip(w.iter())
        {
            *p = clip(v + rf, m.lo, m.hi);
        }
        Ok(())
    }

    /// Restores a full state (physical weights, counters, tick), e.g. from a checkpoint.
    ///
    /// # Errors
    /// [`CoreError::Shape`] / [`CoreError::NonFinite`]; the tile is then unchanged. Never panics.
    pub fn set_physical_state(&mut self, p: ArrayView3<'_, f64>) -> Result<(), CoreError> {
        let (r, o, i) = self.shape();
        Self::check_shape(
            "physical_weights",
            "Tile.set_physical_weights",
            p.shape(),
            [r, o, i],
        )?;
        if p.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite(
                "physical_weights",
                "Tile.set_physical_weights",
            ));
        }
        for ((s, m), v) in self.state.iter_mut().zip(&self.maps).zip(p.iter()) {
            *s = clip(*v, m.lo, m.hi);
        }
        Ok(())
    }

    /// Programs the reference (physical offset subtracted on read-out) of every element.
    /// The physical state is unchanged, so the logical weights move by the old minus the new
    /// reference.
    ///
    /// # Errors
    /// [`CoreError::Shape`] or [`CoreError::NonFinite`]; the tile is then unchanged. Never panics.
    pub fn set_reference(&mut self, reference: ArrayView3<'_, f64>) -> Result<(), CoreError> {
        let (r, o, i) = self.shape();
        Self::check_shape(
            "reference",
            "Tile.set_reference",
            reference.shape(),
            [r, o, i],
        )?;
        if reference.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite("reference", "Tile.set_reference"));
        }
        for (dst, v) in self.reference.iter_mut().zip(reference.iter()) {
            *dst = *v;
        }
        Ok(())
    }

    /// The stream addresses of this call, at the current tick, and advances the tick: every
    /// kernel that draws random numbers calls this once, after its checks (a failed call leaves
    /// the tick unchanged) and before it draws.
    pub(crate) fn next_tick(&mut self) -> Streams {
        let streams = Streams {
            key: self.key,
            tick: self.tick,
            replica_offset: self.replica_offset,
            out_size: self.out_size,
        };
        self.tick += 1;
        streams
    }

    /// The physical state, the counters of `phase` and the maps, borrowed together for a kernel.
    pub(crate) fn rows_mut(&mut self, phase: Phase) -> (&mut [f64], &mut [u64], &[ElemMap]) {
        (
            &mut self.state,
            &mut self.counters[phase as usize],
            &self.maps,
        )
    }

    pub(crate) fn per_replica(&self, per_row: &[u64]) -> UpdateStats {
        UpdateStats {
            pulses: per_row
                .chunks(self.out_size)
                .map(|c| c.iter().sum())
                .collect(),
        }
    }

    /// The tile's 128-bit Philox key (the maps and every stream derive from it).
    pub fn key(&self) -> [u64; 2] {
        self.key
    }

    /// Sets the stream tick, e.g. when restoring a checkpoint: the next call that draws
    /// random numbers uses the streams of `tick`.
    pub fn set_tick(&mut self, tick: u64) {
        self.tick = tick;
    }

    /// Restores the pulse counters of one phase, (R, out, in), e.g. from a checkpoint.
    ///
    /// # Errors
    /// [`CoreError::Shape`]; the tile is then unchanged. Never panics.
    pub fn set_pulse_counts(
        &mut self,
        phase: Phase,
        counts: ArrayView3<'_, u64>,
    ) -> Result<(), CoreError> {
        let (r, o, i) = self.shape();
        Self::check_shape("counts", "Tile.set_pulse_counts", counts.shape(), [r, o, i])?;
        for (dst, v) in self.counters[phase as usize].iter_mut().zip(counts.iter()) {
            *dst = *v;
        }
        Ok(())
    }
}

/// A vector of `n` copies of `v`, or an error if the memory cannot be had.
fn filled<T: Clone>(n: usize, v: T) -> Result<Vec<T>, CoreError> {
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| {
        CoreError::param(
            "out_size",
            "Tile",
            format!("small enough that the tile fits in memory ({n} elements requested)"),
            n,
        )
    })?;
    out.resize(n, v);
    Ok(out)
}

/// Sum of a per-replica vector as an `Array1`, for the bindings.
pub fn stats_array(s: &UpdateStats) -> Array1<u64> {
    Array1::from_vec(s.pulses.clone())
}
