//! Replica-batched tiles: R independent out×in crossbars with their device maps and pulse
//! counters. This file holds the state, its construction, accessors, setters and counters;
//! the kernels live by job in `update/`, `calibration`, `periphery` and `pulse`.
//!
//! Work is split by rows (`ROWS_PER_TASK` rows of one replica at least per rayon task); every
//! row draws from its own Philox stream, so no value depends on the thread count or on the
//! scheduling, and per-row pulse totals are combined serially in row order. Every call that
//! draws random numbers takes its streams from `Tile::next_tick`, which advances the tick.

use std::sync::OnceLock;

use ndarray::{Array1, Array3, ArrayView3};
use rayon::prelude::*;

use crate::error::CoreError;
use crate::par::{for_each_row, Par, ROWS_PER_TASK};
use crate::pulse::clip;
use crate::rng::{tag, tag_key, tick_key, Stream};
use crate::simd;
use crate::spec::{DeviceSpec, UpdateMode};
use crate::variation::{draw_map, ElemMap};

/// Largest tile dimension accepted (rows and columns are addressed with 32 bits).
pub const MAX_DIM: usize = 1 << 24;

/// Largest replica count accepted.
pub const MAX_REPLICAS: usize = 1 << 24;

/// Pulses (or element updates) a long kernel works through between two interrupt checks, about
/// 2^22: tens of milliseconds of work, so Ctrl-C lands well within a second while the checks
/// (re-taking the GIL once per chunk) cost nothing measurable. A constant, so chunk boundaries
/// never depend on the thread count; a call that fits one chunk never checks.
pub const CHUNK_WORK: u64 = 1 << 22;

/// Asked by a long kernel between two chunks (never after the last): `true` stops the kernel
/// there with [`CoreError::Interrupted`]. The bindings re-take the GIL and run the Python
/// signal handlers in it.
pub type Interrupt<'a> = &'a mut dyn FnMut() -> bool;

/// Bytes of new buffers one call may allocate, together, at most: half the machine's physical
/// memory (`MemTotal` in `/proc/meminfo`), or 8 GiB where that cannot be read. A call above it
/// is refused before any work with [`CoreError::InvalidParameter`] naming the argument that
/// sizes it (an allocation failure would abort the process; Linux overcommit would instead let
/// the OOM killer end it later).
pub fn alloc_budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        let total_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            });
        match total_kib {
            Some(kib) if kib > 0 => usize::try_from(kib.saturating_mul(512)).unwrap_or(usize::MAX),
            _ => 1usize << 33,
        }
    })
}

/// Refuses a call whose buffers take `bytes` (None: the size overflowed) above
/// [`alloc_budget`], naming the argument `name` of `owner` that sizes them and its `value`.
///
/// # Errors
/// [`CoreError::InvalidParameter`]. Never panics.
pub fn check_alloc(
    name: &str,
    owner: &str,
    value: impl std::fmt::Debug,
    bytes: Option<usize>,
) -> Result<(), CoreError> {
    let budget = alloc_budget();
    match bytes {
        Some(b) if b <= budget => Ok(()),
        _ => Err(CoreError::param(
            name,
            owner,
            format!(
                "small enough that the call's buffers fit the memory budget ({} bytes \
                 needed, at most {budget} allowed: half the physical memory)",
                bytes.map_or_else(|| "more than 2**64".to_owned(), |b| b.to_string())
            ),
            value,
        )),
    }
}

/// `a·b·…·8`: the bytes of a buffer of f64 with these dimensions (None on overflow).
pub fn f64_bytes(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(8usize, |acc, &d| acc.checked_mul(d))
}

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
    /// True when every reference value is +0.0: then w = p − r is p exactly (x − (+0.0) is
    /// x for every x, −0.0 included), and the passes read the state alone (half the bytes).
    /// Kept by the two writers of `reference`, `new` and `set_reference`.
    pub(crate) reference_zero: bool,
    pub(crate) counters: [Vec<u64>; 3],
}

/// True when every value is +0.0 (not −0.0: p − (−0.0) is +0.0 for p = −0.0).
fn all_positive_zero(v: &[f64]) -> bool {
    v.iter().all(|x| x.to_bits() == 0)
}

/// The stream addresses of one call: the tile's key, the call's tick, the replica offset and
/// the row count (docs/KERNEL_SPEC.md §3). Copied into kernels, so they need no `&Tile`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Streams {
    /// The tile key and the tick (only [`Streams::open`], the tests' reference, needs them).
    #[cfg(test)]
    key: [u64; 2],
    #[cfg(test)]
    tick: u64,
    /// [`tick_key`] of (key, tick), computed once per call: every (tag, sample) of the call
    /// then costs one Philox block for its key, not two.
    tick_key: [u32; 4],
    replica_offset: u64,
    out_size: usize,
}

impl Streams {
    /// The streams of a call at `tick`.
    pub(crate) fn new(key: [u64; 2], tick: u64, replica_offset: u64, out_size: usize) -> Self {
        Streams {
            #[cfg(test)]
            key,
            #[cfg(test)]
            tick,
            tick_key: tick_key(key, tick),
            replica_offset,
            out_size,
        }
    }

    /// The stream `(tick, replica_offset + r, row, tag, sample)` opened from the tile key (the
    /// definition that [`Keyed::open`] must equal; the kernels open through [`Streams::keyed`]).
    #[cfg(test)]
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

    /// The streams of `(tag, sample)` at this call's tick, their Philox key derived once for
    /// every row and replica: the stream of local replica `r`, row `row` is
    /// `Stream::open(key, tick, replica_offset + r, row, tag, sample)`, bit for bit.
    pub(crate) fn keyed(&self, tag: u64, sample: u64) -> Keyed {
        Keyed {
            key: tag_key(self.tick_key, Stream::tag_word(tag, sample)),
            replica_offset: self.replica_offset,
            out_size: self.out_size,
        }
    }
}

/// The streams of one `(tick, tag, sample)` ([`Streams::keyed`]), rows and replicas apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keyed {
    key: [u32; 2],
    replica_offset: u64,
    out_size: usize,
}

impl Keyed {
    /// The stream of local replica `r`, row `row` (see [`Streams::keyed`]).
    #[inline]
    pub(crate) fn open(&self, r: usize, row: u64) -> Stream {
        Stream::with_key(self.key, self.row_word(r, row), 0)
    }

    /// [`Keyed::open`] after `words` of the stream's words were drawn
    /// ([`crate::rng::stream_at_word`]).
    pub(crate) fn open_at(&self, r: usize, row: u64, words: u64) -> Stream {
        crate::rng::stream_at_word(self.key, self.row_word(r, row), words)
    }

    /// The Philox key of these streams.
    pub(crate) fn key(&self) -> [u32; 2] {
        self.key
    }

    /// The row word of local replica `r`, row `row` (`Stream::with_key`'s `row_word`).
    #[inline]
    pub(crate) fn row_word(&self, r: usize, row: u64) -> u64 {
        ((self.replica_offset + r as u64) << 32) | row
    }

    /// The stream of global row `g` (local replica `g / out`, row `g % out`).
    #[inline]
    pub(crate) fn row_stream(&self, g: usize) -> Stream {
        let o = self.out_size.max(1);
        self.open(g / o, (g % o) as u64)
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
        check_maps(&device, &drawn)?;
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
            reference_zero: all_positive_zero(&reference),
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

    /// A copy of one of the tile's (R·out·in) buffers as an array.
    pub(crate) fn to_array<T: Clone>(&self, v: &[T]) -> Array3<T> {
        self.array_of(v.to_vec())
    }

    /// A fresh (R·out·in) buffer as an array, without copying it again (a second copy of a
    /// 512×512 read-out cost a training step 0.3 ms).
    pub(crate) fn array_of<T>(&self, v: Vec<T>) -> Array3<T> {
        Array3::from_shape_vec(self.shape(), v)
            .unwrap_or_else(|_| unreachable!("buffer length is R*out*in by construction"))
    }

    /// Logical (read-out) weights, physical state minus reference, shape (R, out, in).
    pub fn weights(&self) -> Array3<f64> {
        if self.reference_zero {
            // p − (+0.0) is p exactly.
            return self.physical_weights();
        }
        let v: Vec<f64> = self
            .state
            .iter()
            .zip(&self.reference)
            .map(|(p, r)| p - r)
            .collect();
        self.array_of(v)
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
            self.array_of(lo),
            self.array_of(hi),
            self.array_of(up),
            self.array_of(dn),
        ]
    }

    /// Each element's symmetric point of the physical state (NaN for `Ideal`), (R, out, in).
    pub fn symmetric_points(&self, par: Par<'_>) -> Array3<f64> {
        // Blocks of this many elements (a split by data: each element's bits are the scalar
        // bisection's, whatever the split and the thread count).
        const BLOCK: usize = 1024;
        let f = self.device.family;
        let mut v = vec![0.0; self.maps.len()];
        // Bisection costs ~100 response evaluations per element: parallel from 1/64 the size.
        par.run(self.maps.len() * 64, |parallel| {
            let maps = &self.maps;
            for_each_row(parallel, &mut v, BLOCK, |g, out| {
                simd::symmetric_points(f, maps.get(g * BLOCK..).unwrap_or(&[]), out);
            });
        });
        self.array_of(v)
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
        self.reference_zero = all_positive_zero(&self.reference);
        Ok(())
    }

    /// The stream addresses of this call, at the current tick, and advances the tick: every
    /// kernel that draws random numbers calls this once, after its checks (a failed call leaves
    /// the tick unchanged) and before it draws.
    pub(crate) fn next_tick(&mut self) -> Streams {
        let streams = Streams::new(self.key, self.tick, self.replica_offset, self.out_size);
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

    /// Pulses per replica from pulses per row, saturating at `u64::MAX` like the counters.
    pub(crate) fn per_replica(&self, per_row: &[u64]) -> UpdateStats {
        UpdateStats {
            pulses: per_row
                .chunks(self.out_size)
                .map(|c| c.iter().fold(0u64, |a, &v| a.saturating_add(v)))
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

/// Refuses a device whose drawn maps overflowed (an extreme device-to-device spread makes a
/// bound, a step or the reference infinite or NaN, and then every pulse NaN), naming the
/// spread responsible. The twin makes the same check (`twin.update.check_maps`).
fn check_maps(d: &DeviceSpec, drawn: &[(ElemMap, f64)]) -> Result<(), CoreError> {
    let bad = |name: &str, what: &str, v: f64| {
        CoreError::param(
            name,
            "Device",
            format!(
                "small enough that every element's {what} is finite (the drawn maps overflowed)"
            ),
            v,
        )
    };
    for (m, rf) in drawn {
        if !(m.up.is_finite() && m.dn.is_finite()) {
            return Err(if d.dw_min_dtod_log_normal || d.dw_min_dtod > 0.0 {
                bad("dw_min_dtod", "step", d.dw_min_dtod)
            } else {
                bad("up_down_dtod", "step", d.up_down_dtod)
            });
        }
        if !m.hi.is_finite() {
            return Err(bad("w_max_dtod", "bounds", d.w_max_dtod));
        }
        if !m.lo.is_finite() {
            return Err(bad("w_min_dtod", "bounds", d.w_min_dtod));
        }
        if !rf.is_finite() {
            return Err(bad("reference_std", "reference", d.reference_std));
        }
    }
    Ok(())
}

/// Maps `f(g, state_row, counter_row, map_row, cursor)` over the rows of width `i`, each with
/// its own resumable cursor (the long kernels' state between chunks), on the current rayon
/// pool when `parallel` (at least [`ROWS_PER_TASK`] rows per task) or serially; results come
/// back in row order either way. The slices start at global row `first` (`g` is global).
#[allow(clippy::too_many_arguments)]
pub(crate) fn map_rows_with<C, T, F>(
    parallel: bool,
    i: usize,
    first: usize,
    state: &mut [f64],
    counters: &mut [u64],
    maps: &[ElemMap],
    cursors: &mut [C],
    f: F,
) -> Vec<T>
where
    C: Send,
    T: Send,
    F: Fn(usize, &mut [f64], &mut [u64], &[ElemMap], &mut C) -> T + Sync + Send,
{
    let n = i.max(1);
    if parallel {
        state
            .par_chunks_mut(n)
            .zip(counters.par_chunks_mut(n))
            .zip(maps.par_chunks(n))
            .zip(cursors.par_iter_mut())
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .map(|(g, (((p, c), m), cur))| f(first + g, p, c, m, cur))
            .collect()
    } else {
        state
            .chunks_mut(n)
            .zip(counters.chunks_mut(n))
            .zip(maps.chunks(n))
            .zip(cursors.iter_mut())
            .enumerate()
            .map(|(g, (((p, c), m), cur))| f(first + g, p, c, m, cur))
            .collect()
    }
}

/// A vector built by `f(k)` for `k` in `0..n`, allocated fallibly: an error naming `name` of
/// `owner` if the memory cannot be had, never an abort.
pub(crate) fn try_collect<T>(
    n: usize,
    name: &str,
    owner: &str,
    f: impl FnMut(usize) -> T,
) -> Result<Vec<T>, CoreError> {
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| {
        CoreError::param(name, owner, "small enough that the call fits in memory", n)
    })?;
    out.extend((0..n).map(f));
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::Streams;
    use crate::rng::tag;

    #[test]
    fn keyed_streams_are_the_streams_opened_from_the_tile_key() {
        let st = Streams::new([0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210], 41, 7, 3);
        for (t, sample) in [(tag::UPDATE, 0), (tag::TRAIN_X, 5), (tag::READ, 1 << 40)] {
            let ks = st.keyed(t, sample);
            for g in 0..9 {
                let (r, row) = (g / 3, (g % 3) as u64);
                let mut want = st.open(r, row, t, sample);
                let mut got = ks.open(r, row);
                let mut by_row = ks.row_stream(g);
                for _ in 0..100 {
                    let w = want.next_u32();
                    assert_eq!(got.next_u32(), w);
                    assert_eq!(by_row.next_u32(), w);
                }
            }
        }
    }
}
