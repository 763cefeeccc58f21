//! Replica-batched tiles: R independent out×in crossbars with their device maps and pulse
//! counters, and the three update modes of shared/theory.md §2.3.
//!
//! Work is split by rows (`ROWS_PER_TASK` rows of one replica at least per rayon task); every
//! row draws from its own Philox stream, so no value depends on the thread count or on the
//! scheduling, and per-row pulse totals are combined serially in row order.

use ndarray::{Array1, Array3, ArrayView3};
use rayon::prelude::*;

use crate::error::CoreError;
use crate::periphery::{self, IoSpec};
use crate::response::Family;
use crate::rng::{tag, Stream};
use crate::spec::{C2cMode, DeviceSpec, Rounding, UpdateMode};

/// Rows per rayon task, at least: a constant, never derived from the thread count.
pub const ROWS_PER_TASK: usize = 16;

/// Below this much work (elements × samples) a call runs serially on the calling thread: waking
/// a pool costs more than it saves. Every row has its own streams, so results are identical.
/// 2^16: at 2^14, the default `pulsetrain run` (8 replicas of 5×20, many small calls) spent a
/// third of its time handing calls to the pool and in the idle workers' spinning (20.5 → 9.1 s
/// with this and the cached thread count).
pub const PARALLEL_MIN_WORK: usize = 1 << 16;

/// True when work of this size is worth spreading over threads (see [`PARALLEL_MIN_WORK`]).
pub fn worth_parallel(work: usize) -> bool {
    work >= PARALLEL_MIN_WORK
}

/// Upper bound on the x-train words kept for one chunk of samples (the chunk size never
/// changes results, because every sample has its own streams).
const TRAIN_WORDS_PER_CHUNK: usize = 1 << 22;

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

/// Pulses fired by one call, per replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateStats {
    /// Total pulses per local replica.
    pub pulses: Vec<u64>,
}

/// R replicas of an out×in analog crossbar.
#[derive(Clone, Debug)]
pub struct Tile {
    device: DeviceSpec,
    mode: UpdateMode,
    replicas: usize,
    out_size: usize,
    in_size: usize,
    replica_offset: u64,
    key: [u64; 2],
    tick: u64,
    state: Vec<f64>,
    maps: Vec<ElemMap>,
    reference: Vec<f64>,
    counters: [Vec<u64>; 3],
}

/// Evaluates `$body` with `$f` bound to a copy of `$fam` built from its own fields, one match
/// arm per family, so that inlined code is compiled once per response with its constants folded.
macro_rules! specialise {
    ($fam:expr, $f:ident => $body:expr) => {
        match $fam {
            Family::Ideal => {
                let $f = Family::Ideal;
                $body
            }
            Family::LinearStep { sp } => {
                let $f = Family::LinearStep { sp };
                $body
            }
            Family::SkewLinear { c } => {
                let $f = Family::SkewLinear { c };
                $body
            }
            Family::SoftBounds {
                alpha_up,
                alpha_down,
            } => {
                let $f = Family::SoftBounds {
                    alpha_up,
                    alpha_down,
                };
                $body
            }
            Family::Power {
                gamma_up,
                gamma_down,
            } => {
                let $f = Family::Power {
                    gamma_up,
                    gamma_down,
                };
                $body
            }
            Family::Exponential {
                gamma_up,
                gamma_down,
            } => {
                let $f = Family::Exponential {
                    gamma_up,
                    gamma_down,
                };
                $body
            }
            Family::PowerStep {
                gamma_up,
                gamma_down,
            } => {
                let $f = Family::PowerStep {
                    gamma_up,
                    gamma_down,
                };
                $body
            }
            Family::ExpStep {
                gamma_up,
                gamma_down,
            } => {
                let $f = Family::ExpStep {
                    gamma_up,
                    gamma_down,
                };
                $body
            }
        }
    };
}

/// Trains fired together by [`Pulser::fire_lanes`] at most: bounds the scratch memory (trains
/// and their noise) by this many elements' pulses, whatever the tile size.
const LANE_BLOCK: usize = 1024;

/// One element's pending pulse train in [`Pulser::fire_lanes`].
#[derive(Clone, Copy, Debug, Default)]
struct Lane {
    /// Column.
    j: u32,
    /// Pulses still to fire.
    left: u32,
    /// Index of the next pulse's normal.
    off: u32,
    /// Potentiation (true) or depression.
    up: bool,
}

/// Reusable buffers of [`Pulser::fire_lanes`]: the trains of one row's call, their cycle noise,
/// and the trains sorted by length.
#[derive(Default)]
struct LaneScratch {
    /// The trains are `lanes[..count]` (the vector is only ever grown, to reuse it).
    lanes: Vec<Lane>,
    count: usize,
    normals: Vec<f64>,
    sorted: Vec<Lane>,
    /// `alive[k]`: trains with more than k pulses (a prefix of `sorted`).
    alive: Vec<usize>,
    hist: Vec<usize>,
}

impl LaneScratch {
    /// Appends a train of `n` pulses on column `j`, its noise at the next `n` normals.
    fn push(&mut self, j: usize, n: u64, up: bool) {
        let off = self
            .lanes
            .get(..self.count)
            .and_then(<[Lane]>::last)
            .map_or(0, |l| l.off + l.left);
        let lane = Lane {
            j: j as u32,
            left: n as u32,
            off,
            up,
        };
        if let Some(slot) = self.lanes.get_mut(self.count) {
            *slot = lane;
        } else {
            self.lanes.push(lane);
        }
        self.count += 1;
    }

    /// Fills `sorted` with the lanes by decreasing length (counting sort; any order of the
    /// elements gives the same result, as each element's pulses stay in its own order) and
    /// `alive`.
    fn sort_by_length(&mut self) {
        let lanes = self.lanes.get(..self.count).unwrap_or(&[]);
        let longest = lanes.iter().map(|l| l.left as usize).max().unwrap_or(0);
        self.alive.clear();
        self.sorted.clear();
        if longest <= 4 * lanes.len() + 64 {
            // Four interleaved histograms (lane k counts in histogram k % 4): most lanes share
            // a length, and one counter would make every increment wait for the previous one.
            self.hist.clear();
            self.hist.resize(4 * (longest + 1), 0);
            for (k, l) in lanes.iter().enumerate() {
                if let Some(h) = self.hist.get_mut(4 * l.left as usize + k % 4) {
                    *h += 1;
                }
            }
            // Start of each (length, histogram) block, longest first; the prefix counts.
            let mut at = 0;
            for quad in self.hist.chunks_exact_mut(4).rev() {
                for h in quad {
                    let c = *h;
                    *h = at;
                    at += c;
                }
            }
            self.sorted.resize(lanes.len(), Lane::default());
            for (k, l) in lanes.iter().enumerate() {
                if let Some(h) = self.hist.get_mut(4 * l.left as usize + k % 4) {
                    if let Some(slot) = self.sorted.get_mut(*h) {
                        *slot = *l;
                    }
                    *h += 1;
                }
            }
        } else {
            self.sorted.extend_from_slice(lanes);
            self.sorted
                .sort_unstable_by_key(|l| std::cmp::Reverse(l.left));
        }
        // alive[k] = number of lanes with left > k: walk the sorted lengths from the end.
        let mut n = self.sorted.len();
        for k in 0..longest {
            while n > 0 && self.sorted.get(n - 1).is_some_and(|l| l.left as usize <= k) {
                n -= 1;
            }
            self.alive.push(n);
        }
    }
}

/// The per-call constants of the pulse kernel.
#[derive(Clone, Copy)]
struct Pulser {
    family: Family,
    sigma: f64,
    mult: bool,
}

impl Pulser {
    fn new(d: &DeviceSpec) -> Self {
        Pulser {
            family: d.family,
            sigma: d.dw_min_std,
            mult: d.c2c == C2cMode::Multiplicative,
        }
    }

    /// `n` pulses of one sign on one element, each with q at the current state, cycle noise
    /// and clipping: shared/theory.md §1.1 (clip after every pulse, not after the train).
    #[inline]
    fn fire(&self, p: &mut f64, m: &ElemMap, up: bool, n: u64, s: &mut Stream) {
        // Dispatch on the family once per train, so the loop is compiled for one response with
        // its constants folded in; each pulse's noise is drawn just before it.
        specialise!(self.family, f => {
            for _ in 0..n {
                let xi = if self.sigma > 0.0 { s.normal() } else { 0.0 };
                *p = self.pulse(f, *p, m, up, xi);
            }
        });
    }

    /// Fires every lane's train on a row (`scratch.lanes[..count]`): lane `l` gives element
    /// `l.j` `l.left` pulses whose cycle noise is `normals[l.off..l.off + l.left]` (drawn
    /// beforehand, in lane order, from the stream [`Pulser::fire`] would have drawn them from).
    /// Each element sees exactly the arithmetic of `fire`, so the result is bit for bit the
    /// same; the pulses of different elements are interleaved (round k fires pulse k of every
    /// train longer than k) so that their dependency chains overlap. Empties the lanes and the
    /// noise.
    fn fire_lanes(&self, prow: &mut [f64], mrow: &[ElemMap], scratch: &mut LaneScratch) {
        if scratch.count == 0 {
            scratch.normals.clear();
            return;
        }
        let lanes = scratch.lanes.get(..scratch.count).unwrap_or(&[]);
        if lanes.iter().all(|l| l.left == 1) {
            // One pulse each (BL 1, sparse updates): one round, nothing to sort.
            let (alive, normals) = ([lanes.len()], &scratch.normals);
            specialise!(self.family, f => self.fire_sorted(f, prow, mrow, lanes, &alive, normals));
        } else {
            scratch.sort_by_length();
            let LaneScratch {
                sorted,
                alive,
                normals,
                ..
            } = scratch;
            specialise!(self.family, f => self.fire_sorted(f, prow, mrow, sorted, alive, normals));
        }
        scratch.count = 0;
        scratch.normals.clear();
    }

    #[inline(always)]
    fn fire_sorted(
        &self,
        f: Family,
        prow: &mut [f64],
        mrow: &[ElemMap],
        sorted: &[Lane],
        alive: &[usize],
        normals: &[f64],
    ) {
        for (k, &n) in alive.iter().enumerate() {
            for lane in sorted.get(..n).unwrap_or(&[]) {
                let j = lane.j as usize;
                let (Some(p), Some(m)) = (prow.get_mut(j), mrow.get(j)) else {
                    continue;
                };
                let xi = normals.get(lane.off as usize + k).copied().unwrap_or(0.0);
                *p = self.pulse(f, *p, m, lane.up, xi);
            }
        }
    }

    /// One pulse from `w` with cycle noise `xi` (unused without noise): step·q±(w), the noise
    /// multiplicative or additive, then the clip (shared/theory.md §1.1); the direction is
    /// picked without branches. Every pulse path of the kernel goes through here.
    #[inline(always)]
    fn pulse(&self, f: Family, w: f64, m: &ElemMap, up: bool, xi: f64) -> f64 {
        let step = [m.dn, m.up][usize::from(up)];
        let q = f.q_dir(w, m.lo, m.hi, up);
        let mag = if self.sigma > 0.0 {
            if self.mult {
                step * (q * (1.0 + self.sigma * xi))
            } else {
                step * (q + self.sigma * xi)
            }
        } else {
            step * q
        };
        // w − mag is w + (−mag) exactly (IEEE 754), so one add serves both signs; the sign goes
        // in by xor, as the direction is random and a branch would mispredict.
        let w = w + f64::from_bits(mag.to_bits() ^ (u64::from(!up) << 63));
        clip(w, m.lo, m.hi)
    }

    /// Appends the cycle noise of `n` pulses (n normals, none without noise) to `normals`.
    #[inline]
    fn draw_noise(&self, n: u64, s: &mut Stream, normals: &mut Vec<f64>) {
        if self.sigma > 0.0 {
            let start = normals.len();
            normals.resize(start + n as usize, 0.0);
            if let Some(tail) = normals.get_mut(start..) {
                s.fill_normals(tail);
            }
        }
    }
}

/// Equivalent CEIL pulse count of a desired increment: a ratio within 2⁻⁴⁰ (relative) above
/// an integer counts as that integer, so 0.05/1e−3 = 50.000000000000007 gives 50.
#[inline]
fn ceil_count(ratio: f64) -> u64 {
    (ratio * (1.0 - 1.0 / 1_099_511_627_776.0)).ceil() as u64
}

/// Per-sample constants of the stochastic pulse update.
struct SampleTrains {
    /// `None` when the sample is skipped (lr, max|x| or max|d| is 0).
    bl: usize,
    a: f64,
    /// Columns whose x train has at least one bit: (column, sign of x, first word index).
    active: Vec<(u32, bool)>,
    /// 64-bit words per train: ceil(bl / 64).
    words: usize,
    /// Bits of the active columns, `words` per column, in `active` order.
    bits: Vec<u64>,
}

const SKIPPED: usize = 0;

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
        let mut maps = filled(n, zero_map)?;
        let mut reference = filled(n, 0.0)?;
        let mut state = filled(n, 0.0)?;
        let counters = [filled(n, 0u64)?, filled(n, 0u64)?, filled(n, 0u64)?];
        let d = &device;
        let f = |g: usize, mrow: &mut [ElemMap], rrow: &mut [f64], prow: &mut [f64]| {
            let r = replica_offset + (g / out_size) as u64;
            let i = (g % out_size) as u64;
            let mut s = Stream::open(key, 0, r, i, tag::CONSTRUCTION, 0);
            for ((m, rf), p) in mrow.iter_mut().zip(rrow.iter_mut()).zip(prow.iter_mut()) {
                *m = draw_map(d, &mut s, rf);
                *p = clip(*rf, m.lo, m.hi);
            }
        };
        if worth_parallel(n) {
            maps.par_chunks_mut(in_size)
                .zip(reference.par_chunks_mut(in_size))
                .zip(state.par_chunks_mut(in_size))
                .enumerate()
                .with_min_len(ROWS_PER_TASK)
                .for_each(|(g, ((m, r), p))| f(g, m, r, p));
        } else {
            maps.chunks_mut(in_size)
                .zip(reference.chunks_mut(in_size))
                .zip(state.chunks_mut(in_size))
                .enumerate()
                .for_each(|(g, ((m, r), p))| f(g, m, r, p));
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

    fn shape(&self) -> (usize, usize, usize) {
        (self.replicas, self.out_size, self.in_size)
    }

    fn to_array<T: Clone>(&self, v: &[T]) -> Array3<T> {
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
    pub fn symmetric_points(&self) -> Array3<f64> {
        let f = self.device.family;
        let sp = |m: &ElemMap| f.symmetric_point(m.lo, m.hi, m.up, m.dn);
        // Bisection costs ~100 response evaluations per element: parallel from 1/64 the size.
        let v: Vec<f64> = if worth_parallel(self.maps.len() * 64) {
            self.maps
                .par_iter()
                .with_min_len(ROWS_PER_TASK * 16)
                .map(sp)
                .collect()
        } else {
            self.maps.iter().map(sp).collect()
        };
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

    fn check_shape(
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

    fn check_lr(lr: f64, owner: &str) -> Result<(), CoreError> {
        if lr.is_finite() && lr >= 0.0 {
            Ok(())
        } else {
            Err(CoreError::param(
                "lr",
                owner,
                "a float in the range [0, inf)",
                lr,
            ))
        }
    }

    /// Applies ΔW = −lr Σ_b d_b x_bᵀ in the tile's mode; x is (R, B, in), d is (R, B, out).
    ///
    /// # Errors
    /// [`CoreError::Shape`], [`CoreError::NonFinite`] or a bad `lr`; the tile is then
    /// unchanged. Never panics.
    pub fn update(
        &mut self,
        x: ArrayView3<'_, f64>,
        d: ArrayView3<'_, f64>,
        lr: f64,
        phase: Phase,
    ) -> Result<UpdateStats, CoreError> {
        const OWNER: &str = "Tile.update";
        let (r, o, i) = self.shape();
        let b = x.shape().get(1).copied().unwrap_or(0);
        Self::check_shape("x", OWNER, x.shape(), [r, b, i])?;
        Self::check_shape("d", OWNER, d.shape(), [r, b, o])?;
        Self::check_lr(lr, OWNER)?;
        if x.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite("x", OWNER));
        }
        if d.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite("d", OWNER));
        }
        let x = x.as_standard_layout();
        let d = d.as_standard_layout();
        let xs = x.as_slice().unwrap_or(&[]);
        let ds = d.as_slice().unwrap_or(&[]);
        let stats = match self.mode {
            UpdateMode::StochasticPulse { .. } => self.stochastic_update(xs, ds, b, lr, phase),
            _ => self.outer_update(xs, ds, b, lr, phase),
        };
        self.tick += 1;
        Ok(stats)
    }

    /// Applies a desired increment ΔW directly (expected and pulse-count modes).
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] in the stochastic pulse mode; shape and finiteness
    /// errors as for [`Tile::update`]. The tile is then unchanged. Never panics.
    pub fn apply_delta(
        &mut self,
        delta: ArrayView3<'_, f64>,
        phase: Phase,
    ) -> Result<UpdateStats, CoreError> {
        const OWNER: &str = "Tile.apply_delta";
        if matches!(self.mode, UpdateMode::StochasticPulse { .. }) {
            return Err(CoreError::param(
                "update",
                OWNER,
                "ExpectedUpdate or PulseCountUpdate (the stochastic pulse mode only \
                 realises outer products; use update(x, d))",
                "StochasticPulseUpdate",
            ));
        }
        let (r, o, i) = self.shape();
        Self::check_shape("delta", OWNER, delta.shape(), [r, o, i])?;
        if delta.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite("delta", OWNER));
        }
        let delta = delta.as_standard_layout();
        let ds = delta.as_slice().unwrap_or(&[]);
        let (o, i) = (self.out_size, self.in_size);
        let (key, tick, off) = (self.key, self.tick, self.replica_offset);
        let (dev, mode) = (self.device.clone(), self.mode);
        let par = worth_parallel(self.state.len());
        let per_row = map_row_blocks(
            par,
            i,
            1,
            &mut self.state,
            &mut self.counters[phase as usize],
            &self.maps,
            |g, prow, crow, mrow| {
                let mut s = Stream::open(
                    key,
                    tick,
                    off + (g / o) as u64,
                    (g % o) as u64,
                    tag::UPDATE,
                    0,
                );
                apply_row(&dev, mode, prow, crow, mrow, row(ds, g, i), &mut s)
            },
        );
        self.tick += 1;
        Ok(self.per_replica(&per_row))
    }

    /// Fires exact pulse trains: `|n|` pulses of sign `sign(n)` on each element, whatever the
    /// update mode (shared/theory.md §2.3(d): transfer writes with exact counts). Each pulse
    /// has cycle noise and clipping as in every mode; the noise comes from the row's
    /// `UPDATE` stream at this call's tick.
    ///
    /// # Errors
    /// [`CoreError::Shape`] for a wrong shape, [`CoreError::InvalidParameter`] for a count above
    /// 1,000,000 in magnitude; the tile is then unchanged. Never panics.
    pub fn apply_pulses(
        &mut self,
        counts: ArrayView3<'_, i64>,
        phase: Phase,
    ) -> Result<UpdateStats, CoreError> {
        const OWNER: &str = "Tile.apply_pulses";
        let (r, o, i) = self.shape();
        Self::check_shape("counts", OWNER, counts.shape(), [r, o, i])?;
        let limit = i64::from(crate::spec::MAX_MAX_BL);
        if let Some(bad) = counts.iter().find(|c| c.abs() > limit) {
            return Err(CoreError::param(
                "counts",
                OWNER,
                format!("ints in the range [-{limit}, {limit}]"),
                bad,
            ));
        }
        let counts = counts.as_standard_layout();
        let cs = counts.as_slice().unwrap_or(&[]);
        let (key, tick, off) = (self.key, self.tick, self.replica_offset);
        let pulser = Pulser::new(&self.device);
        let par = worth_parallel(self.state.len());
        let per_row = map_row_blocks(
            par,
            i,
            1,
            &mut self.state,
            &mut self.counters[phase as usize],
            &self.maps,
            |g, prow, crow, mrow| {
                let mut s = Stream::open(
                    key,
                    tick,
                    off + (g / o) as u64,
                    (g % o) as u64,
                    tag::UPDATE,
                    0,
                );
                let mut fired = 0u64;
                let mut scratch = LaneScratch::default();
                for (j, (c, &n)) in crow.iter_mut().zip(row(cs, g, i)).enumerate() {
                    let k = n.unsigned_abs();
                    if k == 1 {
                        // No chain to overlap: fire at once (its noise is next in the stream).
                        if let (Some(p), Some(m)) = (prow.get_mut(j), mrow.get(j)) {
                            pulser.fire(p, m, n > 0, 1, &mut s);
                        }
                    } else if k > 1 {
                        scratch.push(j, k, n > 0);
                        pulser.draw_noise(k, &mut s, &mut scratch.normals);
                        if scratch.count >= LANE_BLOCK {
                            pulser.fire_lanes(prow, mrow, &mut scratch);
                        }
                    }
                    *c += k;
                    fired += k;
                }
                pulser.fire_lanes(prow, mrow, &mut scratch);
                fired
            },
        );
        self.tick += 1;
        Ok(self.per_replica(&per_row))
    }

    /// Reads columns of the logical weights with additive Gaussian read noise
    /// `noise_std·ξ` (ξ from the row's `READ` stream at this call's tick, one per element read,
    /// in column-list order). Returns (R, out, len(cols)). Advances the tick.
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] for a column out of range or a negative or non-finite
    /// `noise_std`; the tile is then unchanged. Never panics.
    pub fn read_columns(
        &mut self,
        cols: &[usize],
        noise_std: f64,
    ) -> Result<Array3<f64>, CoreError> {
        const OWNER: &str = "Tile.read";
        let (r, o, i) = self.shape();
        if let Some(bad) = cols.iter().find(|&&c| c >= i) {
            return Err(CoreError::param(
                "cols",
                OWNER,
                format!("column indices in the range [0, {i})"),
                bad,
            ));
        }
        if !(noise_std.is_finite() && noise_std >= 0.0) {
            return Err(CoreError::param(
                "noise_std",
                OWNER,
                "a float in the range [0, inf)",
                noise_std,
            ));
        }
        let (key, tick, off) = (self.key, self.tick, self.replica_offset);
        let nc = cols.len();
        let mut out = vec![0.0; r * o * nc];
        let (state, reference) = (&self.state, &self.reference);
        let f = |(g, orow): (usize, &mut [f64])| {
            let mut s = Stream::open(
                key,
                tick,
                off + (g / o) as u64,
                (g % o) as u64,
                tag::READ,
                0,
            );
            let (prow, rrow) = (row(state, g, i), row(reference, g, i));
            for (v, &c) in orow.iter_mut().zip(cols) {
                let p = prow.get(c).copied().unwrap_or(0.0);
                let rf = rrow.get(c).copied().unwrap_or(0.0);
                *v = if noise_std > 0.0 {
                    (p - rf) + noise_std * s.normal()
                } else {
                    p - rf
                };
            }
        };
        if nc > 0 {
            if worth_parallel(out.len()) {
                out.par_chunks_mut(nc)
                    .enumerate()
                    .with_min_len(ROWS_PER_TASK)
                    .for_each(f);
            } else {
                out.chunks_mut(nc).enumerate().for_each(f);
            }
        }
        self.tick += 1;
        Ok(Array3::from_shape_vec((r, o, nc), out)
            .unwrap_or_else(|_| unreachable!("buffer length is R*out*ncols by construction")))
    }

    /// Zero-shift calibration (shared/theory.md §3.9, P3 Alg. 1): fires `n_pulses` pulses on
    /// every element, counted as `CALIBRATION`, and returns the average of the *physical* state
    /// over the last `average_last` pulses, the estimate of each element's symmetric point.
    ///
    /// Stochastic mode: pulse k has sign + when bit (k mod 64) of the stream's word ⌊k/64⌋ is
    /// set (words drawn from the row's `CALIBRATION` stream as needed, interleaved with the
    /// cycle-noise normals in pulse order). Cyclic mode: +, −, +, −, … (an even count ends on a
    /// down pulse).
    ///
    /// # Errors
    /// [`CoreError::InvalidParameter`] if `n_pulses` is 0 or above 10⁹, or `average_last` is 0
    /// or above `n_pulses`; the tile is then unchanged. Never panics.
    pub fn zero_shift(
        &mut self,
        n_pulses: u64,
        cyclic: bool,
        average_last: u64,
    ) -> Result<Array3<f64>, CoreError> {
        const OWNER: &str = "zero_shift";
        if !(1..=1_000_000_000).contains(&n_pulses) {
            return Err(CoreError::param(
                "n_pulses",
                OWNER,
                "an int in the range [1, 1000000000]",
                n_pulses,
            ));
        }
        if !(1..=n_pulses).contains(&average_last) {
            return Err(CoreError::param(
                "average_last",
                OWNER,
                format!("an int in the range [1, n_pulses = {n_pulses}]"),
                average_last,
            ));
        }
        let (o, i) = (self.out_size, self.in_size);
        let (key, tick, off) = (self.key, self.tick, self.replica_offset);
        let pulser = Pulser::new(&self.device);
        let par = worth_parallel(
            self.state
                .len()
                .saturating_mul(n_pulses.min(1 << 20) as usize),
        );
        let first_avg = n_pulses - average_last;
        let per_row: Vec<Vec<f64>> = map_row_blocks(
            par,
            i,
            1,
            &mut self.state,
            &mut self.counters[Phase::Calibration as usize],
            &self.maps,
            |g, prow, crow, mrow| {
                let mut s = Stream::open(
                    key,
                    tick,
                    off + (g / o) as u64,
                    (g % o) as u64,
                    tag::CALIBRATION,
                    0,
                );
                let mut avg = vec![0.0; prow.len()];
                for (((p, c), m), a) in prow.iter_mut().zip(crow.iter_mut()).zip(mrow).zip(&mut avg)
                {
                    let mut word = 0u64;
                    let mut sum = 0.0;
                    for k in 0..n_pulses {
                        let up = if cyclic {
                            k % 2 == 0
                        } else {
                            if k % 64 == 0 {
                                word = s.next_u64();
                            }
                            (word >> (k % 64)) & 1 == 1
                        };
                        pulser.fire(p, m, up, 1, &mut s);
                        if k >= first_avg {
                            sum += *p;
                        }
                    }
                    *c += n_pulses;
                    *a = sum / average_last as f64;
                }
                avg
            },
        );
        self.tick += 1;
        let flat: Vec<f64> = per_row.into_iter().flatten().collect();
        Ok(Array3::from_shape_vec(self.shape(), flat)
            .unwrap_or_else(|_| unreachable!("R*out rows of in values by construction")))
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

    /// Runs one analog pass per sample: `x` is (R, B, n_x) row-major with n_x = in (forward)
    /// or out (backward); returns (R, B, n_y). Sample b of replica r draws from the stream
    /// `(tick, r, row = b, tag, sample = sub)`.
    fn passes(
        &mut self,
        x: &[f64],
        b: usize,
        io: &IoSpec,
        transpose: bool,
        tag: u64,
        sub: u64,
    ) -> Vec<f64> {
        let (r, o, i) = self.shape();
        let (len_x, len_y) = if transpose { (o, i) } else { (i, o) };
        let (key, tick, off) = (self.key, self.tick, self.replica_offset);
        let par = worth_parallel(r * b * o * i);
        let bm_allowed = !transpose;
        let mut out = vec![0.0; r * b * len_y];
        if len_y == 0 || b == 0 {
            self.tick += 1;
            return out;
        }
        let mut ut = vec![0.0; len_x * b];
        let mut yt = vec![0.0; len_y * b];
        let mut u = vec![0.0; b * len_x];
        for rep in 0..r {
            let pr = row(&self.state, rep, o * i);
            let rr = row(&self.reference, rep, o * i);
            // Steps 1–3 for every sample (its own stream), then one product for the batch.
            let mut streams: Vec<Stream> = (0..b)
                .map(|bb| Stream::open(key, tick, off + rep as u64, bb as u64, tag, sub))
                .collect();
            let mut scales = vec![1.0; b];
            for (bb, ((ub, s), sc)) in u
                .chunks_mut(len_x)
                .zip(streams.iter_mut())
                .zip(scales.iter_mut())
                .enumerate()
            {
                let xs = row(x, rep * b + bb, len_x);
                if io.is_perfect {
                    ub.copy_from_slice(xs);
                    continue;
                }
                *sc = periphery::nm_scale(io, xs);
                if *sc == 0.0 {
                    ub.fill(0.0);
                } else {
                    periphery::input_stage(io, xs, *sc, 1.0, ub, s);
                }
            }
            for (bb, ub) in u.chunks(len_x).enumerate() {
                for (j, v) in ub.iter().enumerate() {
                    if let Some(dst) = ut.get_mut(j * b + bb) {
                        *dst = *v;
                    }
                }
            }
            periphery::mvm_batch(pr, rr, o, i, transpose, b, &ut, &mut yt, par);
            let orep = &mut out[rep * b * len_y..(rep + 1) * b * len_y];
            for (bb, y) in orep.chunks_mut(len_y).enumerate() {
                for (k, v) in y.iter_mut().enumerate() {
                    *v = yt.get(k * b + bb).copied().unwrap_or(0.0);
                }
            }
            // Steps 5–7 per sample; the rare bound-management repeats run one sample at a time.
            for (bb, ((y, s), &sc)) in orep
                .chunks_mut(len_y)
                .zip(streams.iter_mut())
                .zip(&scales)
                .enumerate()
            {
                if io.is_perfect {
                    for v in y.iter_mut() {
                        *v *= io.out_scale;
                    }
                    continue;
                }
                if sc == 0.0 {
                    y.fill(0.0);
                    continue;
                }
                let xs = row(x, rep * b + bb, len_x);
                let mut factor = 1.0;
                let mut saturated = periphery::output_stage(io, y, s);
                let ub = &mut u[bb * len_x..(bb + 1) * len_x];
                while periphery::repeat_pass(io, bm_allowed, saturated, factor) {
                    factor *= 2.0;
                    periphery::input_stage(io, xs, sc, factor, ub, s);
                    periphery::mvm_one(pr, rr, i, transpose, ub, y);
                    saturated = periphery::output_stage(io, y, s);
                }
                let k = sc * factor * io.out_scale;
                for v in y.iter_mut() {
                    *v *= k;
                }
            }
        }
        self.tick += 1;
        out
    }

    fn check_io(io: &IoSpec) -> Result<(), CoreError> {
        io.validate()
    }

    /// Forward pass `y = IO(W x)` of every sample through the periphery (shared/theory.md
    /// §2.5), x of shape (R, B, in); returns (R, B, out). Advances the tick.
    ///
    /// # Errors
    /// Shape, finiteness or IO-parameter errors; the tile is then unchanged. Never panics.
    pub fn forward(
        &mut self,
        x: ArrayView3<'_, f64>,
        io: &IoSpec,
    ) -> Result<Array3<f64>, CoreError> {
        self.directed(x, io, false)
    }

    /// Backward pass `Wᵀ d` of every sample through the periphery (bound management is off, as
    /// in aihwkit), d of shape (R, B, out); returns (R, B, in). Advances the tick.
    ///
    /// # Errors
    /// Shape, finiteness or IO-parameter errors; the tile is then unchanged. Never panics.
    pub fn backward(
        &mut self,
        d: ArrayView3<'_, f64>,
        io: &IoSpec,
    ) -> Result<Array3<f64>, CoreError> {
        self.directed(d, io, true)
    }

    fn directed(
        &mut self,
        x: ArrayView3<'_, f64>,
        io: &IoSpec,
        transpose: bool,
    ) -> Result<Array3<f64>, CoreError> {
        let (owner, name) = if transpose {
            ("Tile.backward", "d")
        } else {
            ("Tile.forward", "x")
        };
        let (r, o, i) = self.shape();
        let b = x.shape().get(1).copied().unwrap_or(0);
        let (len_x, len_y) = if transpose { (o, i) } else { (i, o) };
        Self::check_shape(name, owner, x.shape(), [r, b, len_x])?;
        if x.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite(name, owner));
        }
        Self::check_io(io)?;
        let x = x.as_standard_layout();
        let xs = x.as_slice().unwrap_or(&[]);
        let tag = if transpose {
            tag::BACKWARD
        } else {
            tag::FORWARD
        };
        let out = self.passes(xs, b, io, transpose, tag, 0);
        Ok(Array3::from_shape_vec((r, b, len_y), out)
            .unwrap_or_else(|_| unreachable!("R*B*len_y values by construction")))
    }

    /// Reads columns through the periphery: a forward pass of the one-hot input e_j for each
    /// listed column (transfer reads, shared/theory.md §2.5), on the `READ` streams with
    /// sample tag 1. Returns (R, out, len(cols)). Advances the tick.
    ///
    /// # Errors
    /// A column out of range or bad IO parameters; the tile is then unchanged. Never panics.
    pub fn read_columns_io(
        &mut self,
        cols: &[usize],
        io: &IoSpec,
    ) -> Result<Array3<f64>, CoreError> {
        let (r, o, i) = self.shape();
        if let Some(bad) = cols.iter().find(|&&c| c >= i) {
            return Err(CoreError::param(
                "cols",
                "Tile.read",
                format!("column indices in the range [0, {i})"),
                bad,
            ));
        }
        Self::check_io(io)?;
        let nc = cols.len();
        let mut x = vec![0.0; r * nc * i];
        for rep in 0..r {
            for (k, &c) in cols.iter().enumerate() {
                if let Some(v) = x.get_mut((rep * nc + k) * i + c) {
                    *v = 1.0;
                }
            }
        }
        let y = self.passes(&x, nc, io, false, tag::READ, 1);
        // y is (R, nc, out): transpose each replica to (out, nc).
        let mut out = vec![0.0; r * o * nc];
        for rep in 0..r {
            for k in 0..nc {
                for row_i in 0..o {
                    if let (Some(dst), Some(src)) = (
                        out.get_mut((rep * o + row_i) * nc + k),
                        y.get((rep * nc + k) * o + row_i),
                    ) {
                        *dst = *src;
                    }
                }
            }
        }
        Ok(Array3::from_shape_vec((r, o, nc), out)
            .unwrap_or_else(|_| unreachable!("R*out*ncols values by construction")))
    }

    fn per_replica(&self, per_row: &[u64]) -> UpdateStats {
        UpdateStats {
            pulses: per_row
                .chunks(self.out_size)
                .map(|c| c.iter().sum())
                .collect(),
        }
    }

    /// Expected and pulse-count modes: form Δ per row (batch summed in index order), apply.
    fn outer_update(
        &mut self,
        xs: &[f64],
        ds: &[f64],
        b: usize,
        lr: f64,
        phase: Phase,
    ) -> UpdateStats {
        let (o, i) = (self.out_size, self.in_size);
        let (key, tick, off) = (self.key, self.tick, self.replica_offset);
        let (dev, mode) = (self.device.clone(), self.mode);
        let par = worth_parallel(self.state.len() * b.max(1));
        // Blocks of OUTER_ROWS rows: each x row of the batch is read once per block, not once
        // per row (the batch's x does not stay in the cache across rows of a large tile).
        let per_block = map_row_blocks(
            par,
            i,
            OUTER_ROWS,
            &mut self.state,
            &mut self.counters[phase as usize],
            &self.maps,
            |g0, pblk, cblk, mblk| {
                let nrows = pblk.len() / i.max(1);
                // Δ_ij = −lr Σ_b d_bi x_bj, the batch summed in index order from 0.0.
                let mut acc = vec![0.0; nrows * i];
                for bb in 0..b {
                    for (k, arow) in acc.chunks_exact_mut(i).enumerate() {
                        let (r, rw) = ((g0 + k) / o, (g0 + k) % o);
                        let dv = ds.get((r * b + bb) * o + rw).copied().unwrap_or(0.0);
                        for (a, xv) in arow.iter_mut().zip(row(xs, r * b + bb, i)) {
                            *a += dv * xv;
                        }
                    }
                }
                for a in &mut acc {
                    *a *= -lr;
                }
                let rows = pblk
                    .chunks_mut(i)
                    .zip(cblk.chunks_mut(i))
                    .zip(mblk.chunks(i))
                    .zip(acc.chunks_exact(i));
                rows.enumerate()
                    .map(|(k, (((prow, crow), mrow), drow))| {
                        let (r, rw) = ((g0 + k) / o, (g0 + k) % o);
                        let mut s =
                            Stream::open(key, tick, off + r as u64, rw as u64, tag::UPDATE, 0);
                        apply_row(&dev, mode, prow, crow, mrow, drow, &mut s)
                    })
                    .collect::<Vec<u64>>()
            },
        );
        let per_row: Vec<u64> = per_block.into_iter().flatten().collect();
        self.per_replica(&per_row)
    }

    /// The stochastic pulse-coincidence update (shared/theory.md §2.3(c)), sample by sample.
    fn stochastic_update(
        &mut self,
        xs: &[f64],
        ds: &[f64],
        b: usize,
        lr: f64,
        phase: Phase,
    ) -> UpdateStats {
        let UpdateMode::StochasticPulse {
            desired_bl,
            update_management,
            update_bl_management,
            fixed_bl,
            um_grad_scale,
        } = self.mode
        else {
            unreachable!("stochastic_update is only called in the stochastic mode")
        };
        let (rr, o, i) = self.shape();
        let (key, tick, off) = (self.key, self.tick, self.replica_offset);
        let dw_min = self.device.dw_min;
        let pulser = Pulser::new(&self.device);
        let words = (desired_bl as usize).div_ceil(64);
        let chunk = (TRAIN_WORDS_PER_CHUNK / (rr * i * words).max(1)).clamp(1, 64);
        let mut totals = vec![0u64; rr * o];
        let par = worth_parallel(self.state.len() * b);
        let mut start = 0;
        while start < b {
            let end = (start + chunk).min(b);
            let nb = end - start;
            // Pass 1: per (replica, sample) constants and x trains, in parallel.
            let one = |t: usize| {
                let (r, bb) = (t / nb, start + t % nb);
                let x = row(xs, r * b + bb, i);
                let d = row(ds, r * b + bb, o);
                sample_trains(
                    x,
                    d,
                    lr,
                    dw_min,
                    desired_bl,
                    update_management,
                    update_bl_management,
                    fixed_bl,
                    um_grad_scale,
                    key,
                    tick,
                    off + r as u64,
                    bb as u64,
                )
            };
            let trains: Vec<SampleTrains> = if par {
                (0..rr * nb).into_par_iter().map(one).collect()
            } else {
                (0..rr * nb).map(one).collect()
            };
            // Pass 2: rows, each with its own d trains and pulses.
            let trains = &trains;
            let per_row = map_row_blocks(
                par,
                i,
                1,
                &mut self.state,
                &mut self.counters[phase as usize],
                &self.maps,
                |g, prow, crow, mrow| {
                    let (r, rw) = (g / o, g % o);
                    let mut fired = 0u64;
                    let mut dbits = [0u64; (crate::spec::MAX_DESIRED_BL as usize).div_ceil(64)];
                    let mut scratch = LaneScratch::default();
                    for k in 0..nb {
                        let tr = &trains[r * nb + k];
                        if tr.bl == SKIPPED {
                            continue;
                        }
                        let bb = start + k;
                        let dv = ds.get((r * b + bb) * o + rw).copied().unwrap_or(0.0);
                        let pd = snap(tr.a * dv.abs());
                        if pd <= 0.0 {
                            continue;
                        }
                        let mut s = Stream::open(
                            key,
                            tick,
                            off + r as u64,
                            rw as u64,
                            tag::UPDATE,
                            bb as u64,
                        );
                        let words = tr.words;
                        let Some(dw) = dbits.get_mut(..words) else {
                            continue;
                        };
                        dw.fill(0);
                        if !s.bernoulli_bits(pd, tr.bl, dw) {
                            continue;
                        }
                        let d_pos = dv > 0.0;
                        // Coincidences per column, in blocks of LANE_BLOCK columns: a block's
                        // noise is drawn in column order (the order `fire` would draw it in),
                        // then its trains are fired. Every active column writes a lane; only
                        // those with a coincidence advance the count (no branch on it).
                        for (block, bits) in tr
                            .active
                            .chunks(LANE_BLOCK)
                            .zip(tr.bits.chunks(LANE_BLOCK * words))
                        {
                            let lanes = &mut scratch.lanes;
                            if lanes.len() < block.len() {
                                lanes.resize(block.len(), Lane::default());
                            }
                            let mut total = 0u64;
                            for (((col, x_pos), xw), slot) in block
                                .iter()
                                .zip(bits.chunks_exact(words))
                                .zip(lanes.iter_mut())
                            {
                                let n: u64 = xw
                                    .iter()
                                    .zip(dw.iter())
                                    .map(|(a, c)| u64::from((a & c).count_ones()))
                                    .sum();
                                // Sign of the pulses: −sign(x_j d_i) (ΔW = −lr d xᵀ).
                                *slot = Lane {
                                    j: *col,
                                    left: n as u32,
                                    off: total as u32,
                                    up: x_pos != &d_pos,
                                };
                                if let Some(c) = crow.get_mut(*col as usize) {
                                    *c += n;
                                }
                                total += n;
                            }
                            // Compact in a second pass (a store and an add per lane).
                            let mut live = 0;
                            for idx in 0..block.len() {
                                if let Some(&l) = lanes.get(idx) {
                                    if let Some(dst) = lanes.get_mut(live) {
                                        *dst = l;
                                    }
                                    live += usize::from(l.left > 0);
                                }
                            }
                            scratch.count = live;
                            fired += total;
                            pulser.draw_noise(total, &mut s, &mut scratch.normals);
                            pulser.fire_lanes(prow, mrow, &mut scratch);
                        }
                    }
                    fired
                },
            );
            for (t, v) in totals.iter_mut().zip(per_row) {
                *t += v;
            }
            start = end;
        }
        self.per_replica(&totals)
    }
}

/// Maps `f(first_global_row, state_block, counter_block, map_block)` over blocks of `rows`
/// consecutive rows (the last block may be shorter; `rows` 1 maps single rows), on the current
/// rayon pool when `parallel` (at least [`ROWS_PER_TASK`] rows per task) or serially; the
/// results come back in block order either way.
fn map_row_blocks<T, F>(
    parallel: bool,
    i: usize,
    rows: usize,
    state: &mut [f64],
    counters: &mut [u64],
    maps: &[ElemMap],
    f: F,
) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &mut [f64], &mut [u64], &[ElemMap]) -> T + Sync + Send,
{
    let n = (i * rows).max(1);
    if parallel {
        state
            .par_chunks_mut(n)
            .zip(counters.par_chunks_mut(n))
            .zip(maps.par_chunks(n))
            .enumerate()
            .with_min_len(ROWS_PER_TASK.div_ceil(rows))
            .map(|(k, ((p, c), m))| f(k * rows, p, c, m))
            .collect()
    } else {
        state
            .chunks_mut(n)
            .zip(counters.chunks_mut(n))
            .zip(maps.chunks(n))
            .enumerate()
            .map(|(k, ((p, c), m))| f(k * rows, p, c, m))
            .collect()
    }
}

/// Rows per block of the expected and pulse-count batch updates ([`map_row_blocks`]).
const OUTER_ROWS: usize = 8;

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

/// Row `g` of a row-major buffer with rows of length `i` (empty if out of range).
#[inline]
fn row<T>(buf: &[T], g: usize, i: usize) -> &[T] {
    buf.get(g * i..(g + 1) * i).unwrap_or(&[])
}

/// `min(max(w, lo), hi)` as NumPy's `np.minimum(np.maximum(w, lo), hi)` computes it (and so the
/// twin): NaN propagates, and a tie keeps `w` (so −0.0 stays −0.0). Two compares, no NaN
/// fix-ups (Rust's `f64::max` drops a NaN operand instead).
#[inline(always)]
fn clip(w: f64, lo: f64, hi: f64) -> f64 {
    let w = if w < lo { lo } else { w };
    if w > hi {
        hi
    } else {
        w
    }
}

/// A probability within 4 ulp of 1 counts as certain (shared/theory.md C12); capped at 1.
#[inline]
fn snap(p: f64) -> f64 {
    if p >= 1.0 - 4.0 * f64::EPSILON {
        1.0
    } else {
        p
    }
}

/// BL, A, B and the x trains of one sample (shared/theory.md §2.3(c) steps 1–4).
fn sample_trains(
    x: &[f64],
    d: &[f64],
    lr: f64,
    dw_min: f64,
    desired_bl: u32,
    update_management: bool,
    update_bl_management: bool,
    fixed_bl: bool,
    um_grad_scale: f64,
    key: [u64; 2],
    tick: u64,
    replica: u64,
    sample: u64,
) -> SampleTrains {
    let skipped = SampleTrains {
        bl: SKIPPED,
        a: 0.0,
        words: 0,
        active: Vec::new(),
        bits: Vec::new(),
    };
    let x_m = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let d_m = um_grad_scale * d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if lr == 0.0 || x_m == 0.0 || d_m == 0.0 {
        return skipped;
    }
    let k = lr * x_m * d_m / dw_min;
    let dbl = f64::from(desired_bl);
    let um = update_management || update_bl_management;
    let (bl, mut a, mut bs) = if update_bl_management {
        let bl = k.ceil().min(dbl).max(1.0);
        let s = (lr / (dw_min * bl)).sqrt();
        (bl, s, s)
    } else if fixed_bl || dw_min * dbl >= lr {
        let s = (lr / (dw_min * dbl)).sqrt();
        (dbl, s, s)
    } else {
        // The free bit length is capped at MAX_DESIRED_BL slots, the longest train kept.
        let cap = f64::from(crate::spec::MAX_DESIRED_BL);
        ((lr / dw_min).ceil().clamp(1.0, cap), 1.0, 1.0)
    };
    if um {
        let d2 = d_m * (dbl / k).min(1.0);
        a *= (x_m / d2).sqrt();
        bs *= (d2 / x_m).sqrt();
    }
    let bl = bl as usize;
    let full_words = bl.div_ceil(64);
    let mut active = Vec::new();
    let mut bits = Vec::new();
    let mut buf = vec![0u64; full_words];
    for (j, &xv) in x.iter().enumerate() {
        let px = snap(bs * xv.abs());
        if px <= 0.0 {
            continue;
        }
        let mut s = Stream::open(key, tick, replica, j as u64, tag::TRAIN_X, sample);
        buf.fill(0);
        if s.bernoulli_bits(px, bl, &mut buf) {
            active.push((j as u32, xv > 0.0));
            bits.extend_from_slice(&buf);
        }
    }
    SampleTrains {
        bl,
        a,
        words: full_words,
        active,
        bits,
    }
}

/// Applies one row of desired increments in the expected or pulse-count mode; returns the
/// pulses fired (equivalent CEIL pulses in the expected mode).
fn apply_row(
    dev: &DeviceSpec,
    mode: UpdateMode,
    prow: &mut [f64],
    crow: &mut [u64],
    mrow: &[ElemMap],
    drow: &[f64],
    s: &mut Stream,
) -> u64 {
    let dw_min = dev.dw_min;
    let f = dev.family;
    let mut fired = 0u64;
    match mode {
        UpdateMode::Expected { noise } => {
            fired =
                specialise!(f, fam => expected_row(fam, dw_min, noise, prow, crow, mrow, drow, s));
        }
        UpdateMode::PulseCount { max_bl, rounding } => {
            let pulser = Pulser::new(dev);
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
                if n == 1 {
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
        }
        UpdateMode::StochasticPulse { .. } => {}
    }
    fired
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
        *c += n;
        fired += n;
    }
    fired
}

/// Draws one element's map from the construction stream (KERNEL order: ξg, ξr, ξmax, ξmin, ξref).
fn draw_map(d: &DeviceSpec, s: &mut Stream, reference: &mut f64) -> ElemMap {
    let (xg, xr, xmax, xmin, xref) = (s.normal(), s.normal(), s.normal(), s.normal(), s.normal());
    let g = if d.dw_min_dtod_log_normal {
        (d.dw_min_dtod * xg).exp()
    } else {
        1.0 + d.dw_min_dtod * xg
    };
    let r = d.up_down_dtod * xr;
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

/// Sum of a per-replica vector as an `Array1`, for the bindings.
pub fn stats_array(s: &UpdateStats) -> Array1<u64> {
    Array1::from_vec(s.pulses.clone())
}
