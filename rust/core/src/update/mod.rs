//! The update modes of shared/theory.md §2.3 (docs/KERNEL_SPEC.md §6): the public entry points
//! and the one exhaustive dispatch on [`UpdateMode`]; each mode's row kernel lives in its own
//! file (`expected`, `pulse_count`, `stochastic`).

mod expected;
mod pulse_count;
mod stochastic;

use ndarray::ArrayView3;

use crate::error::CoreError;
use crate::par::{map_row_blocks, row, Par};
use crate::rng::{tag, Stream};
use crate::spec::{UpdateMode, MAX_MAX_BL};
use crate::tile::{map_rows_with, try_collect, Interrupt, CHUNK_WORK};
use crate::tile::{Keyed, Phase, Tile, UpdateStats};
use crate::variation::ElemMap;
use pulse_count::TrainCursor;

/// Rows per block of the expected and pulse-count batch updates ([`map_row_blocks`]).
const OUTER_ROWS: usize = 8;

/// What a call asks the mode to realise.
#[derive(Clone, Copy)]
enum Request<'a> {
    /// ΔW = −lr Σ_b d_b x_bᵀ: `xs` is (R, B, in), `ds` is (R, B, out), both row-major.
    Outer {
        xs: &'a [f64],
        ds: &'a [f64],
        b: usize,
        lr: f64,
    },
    /// A desired increment ΔW, (R, out, in) row-major.
    Delta { ds: &'a [f64] },
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

/// The error of asking the stochastic pulse mode for a desired increment.
fn no_delta_in_stochastic(owner: &str) -> CoreError {
    CoreError::param(
        "update",
        owner,
        "ExpectedUpdate or PulseCountUpdate (the stochastic pulse mode only \
         realises outer products; use update(x, d))",
        "StochasticPulseUpdate",
    )
}

impl Tile {
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
        par: Par<'_>,
    ) -> Result<UpdateStats, CoreError> {
        self.update_interruptible(x, d, lr, phase, par, &mut || false)
    }

    /// [`Tile::update`] asking `stop` between chunks of rows in the expected and pulse-count
    /// modes (windows of rows of about 4·[`CHUNK_WORK`] estimated work; a call that fits one
    /// window never asks). A stopped call has applied the batch's whole increment to the rows
    /// of the finished windows and nothing to the others, counters equal to the pulses fired.
    /// The stochastic pulse mode asks between chunks of samples (at most 64 samples and about
    /// one window of element visits each): a stopped call has applied the first samples of the
    /// batch to every row of every replica and nothing of the others, counters equal to the
    /// pulses fired. Uninterrupted, bit-identical to one pass.
    ///
    /// # Errors
    /// As [`Tile::update`], and [`CoreError::Interrupted`] when `stop` returns true. Never
    /// panics.
    pub fn update_interruptible(
        &mut self,
        x: ArrayView3<'_, f64>,
        d: ArrayView3<'_, f64>,
        lr: f64,
        phase: Phase,
        par: Par<'_>,
        stop: Interrupt<'_>,
    ) -> Result<UpdateStats, CoreError> {
        const OWNER: &str = "Tile.update";
        let (r, o, i) = self.shape();
        let b = x.shape().get(1).copied().unwrap_or(0);
        Self::check_shape("x", OWNER, x.shape(), [r, b, i])?;
        Self::check_shape("d", OWNER, d.shape(), [r, b, o])?;
        check_lr(lr, OWNER)?;
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
        self.dispatch(Request::Outer { xs, ds, b, lr }, phase, par, OWNER, stop)
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
        par: Par<'_>,
    ) -> Result<UpdateStats, CoreError> {
        self.apply_delta_interruptible(delta, phase, par, &mut || false)
    }

    /// [`Tile::apply_delta`] asking `stop` between windows of rows, as
    /// [`Tile::update_interruptible`] does.
    ///
    /// # Errors
    /// As [`Tile::apply_delta`], and [`CoreError::Interrupted`] when `stop` returns true. Never
    /// panics.
    pub fn apply_delta_interruptible(
        &mut self,
        delta: ArrayView3<'_, f64>,
        phase: Phase,
        par: Par<'_>,
        stop: Interrupt<'_>,
    ) -> Result<UpdateStats, CoreError> {
        const OWNER: &str = "Tile.apply_delta";
        if matches!(self.mode, UpdateMode::StochasticPulse(_)) {
            return Err(no_delta_in_stochastic(OWNER));
        }
        let (r, o, i) = self.shape();
        Self::check_shape("delta", OWNER, delta.shape(), [r, o, i])?;
        if delta.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::non_finite("delta", OWNER));
        }
        let delta = delta.as_standard_layout();
        let ds = delta.as_slice().unwrap_or(&[]);
        self.dispatch(Request::Delta { ds }, phase, par, OWNER, stop)
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
        par: Par<'_>,
    ) -> Result<UpdateStats, CoreError> {
        self.apply_pulses_interruptible(counts, phase, par, &mut || false)
    }

    /// [`Tile::apply_pulses`] in chunks of about [`CHUNK_WORK`] pulses, asking `stop` between
    /// chunks. A chunk ends on every row after a whole element (its pulses all fired, its
    /// counter raised by them), so a stopped call leaves each row's elements fired up to some
    /// column and untouched after it: exactly what the same call with the later counts zeroed
    /// would have done. Uninterrupted, the result is bit-identical to one pass.
    ///
    /// # Errors
    /// As [`Tile::apply_pulses`], and [`CoreError::Interrupted`] when `stop` returns true (the
    /// tile then holds the pulses fired so far, counted). Never panics.
    pub fn apply_pulses_interruptible(
        &mut self,
        counts: ArrayView3<'_, i64>,
        phase: Phase,
        par: Par<'_>,
        stop: Interrupt<'_>,
    ) -> Result<UpdateStats, CoreError> {
        const OWNER: &str = "Tile.apply_pulses";
        let (r, o, i) = self.shape();
        Self::check_shape("counts", OWNER, counts.shape(), [r, o, i])?;
        let limit = u64::from(MAX_MAX_BL);
        // unsigned_abs: i64::MIN has no positive i64 (abs() would wrap to itself, < limit).
        if let Some(bad) = counts.iter().find(|c| c.unsigned_abs() > limit) {
            return Err(CoreError::param(
                "counts",
                OWNER,
                format!("ints in the range [-{limit}, {limit}]"),
                bad,
            ));
        }
        let counts = counts.as_standard_layout();
        let cs = counts.as_slice().unwrap_or(&[]);
        let pulser = crate::pulse::Pulser::new(&self.device);
        let rows = r * o;
        let mut cursors = try_collect(rows, "counts", OWNER, |_| TrainCursor {
            s: Stream::open([0, 0], 0, 0, 0, 0, 0),
            j: 0,
        })?;
        let ks = self.next_tick().keyed(tag::UPDATE, 0);
        for (g, c) in cursors.iter_mut().enumerate() {
            c.s = ks.row_stream(g);
        }
        let mut per_row = vec![0u64; rows];
        // Work left per row: a pulse, or a visit for an element without pulses.
        let mut left: Vec<u64> = cs
            .chunks(i.max(1))
            .map(|c| c.iter().map(|n| n.unsigned_abs().max(1)).sum())
            .collect();
        // Each chunk advances a window of rows by `budget` each: at least 32 trains of the
        // longest length per row, so that the trains still overlap (`Pulser::fire_lanes`); the
        // window holds rows until about 4·CHUNK_WORK work, so that short rows go in parallel
        // and long ones keep a chunk near 0.1 s.
        let longest = cs.iter().map(|n| n.unsigned_abs()).max().unwrap_or(0);
        let budget = longest.saturating_mul(32).max(4096);
        let target = CHUNK_WORK.saturating_mul(4);
        let mut first = 0;
        while first < rows {
            let mut last = first;
            let mut work = 0u64;
            while last < rows && (last == first || work < target) {
                work = work.saturating_add(left.get(last).copied().unwrap_or(0).min(budget));
                last += 1;
            }
            let (state, counters, maps) = self.rows_mut(phase);
            let span = first * i..last * i;
            let (Some(state), Some(counters), Some(maps), Some(curs)) = (
                state.get_mut(span.clone()),
                counters.get_mut(span.clone()),
                maps.get(span),
                cursors.get_mut(first..last),
            ) else {
                unreachable!("rows first..last are in range by construction")
            };
            let chunk = par.run(usize::try_from(work).unwrap_or(usize::MAX), |parallel| {
                map_rows_with(
                    parallel,
                    i,
                    first,
                    state,
                    counters,
                    maps,
                    curs,
                    |g, prow, crow, mrow, cur| {
                        if cur.j >= i {
                            return (0, 0, true);
                        }
                        pulse_count::fire_counts(
                            &pulser,
                            prow,
                            crow,
                            mrow,
                            row(cs, g, i),
                            cur,
                            budget,
                        )
                    },
                )
            });
            for (g, (fired, done_work, _)) in (first..last).zip(chunk) {
                if let (Some(tot), Some(l)) = (per_row.get_mut(g), left.get_mut(g)) {
                    *tot = tot.saturating_add(fired);
                    *l = l.saturating_sub(done_work);
                }
            }
            while cursors.get(first).is_some_and(|c| c.j >= i) {
                first += 1;
            }
            if first < rows && stop() {
                return Err(CoreError::Interrupted {
                    owner: OWNER.to_owned(),
                });
            }
        }
        Ok(self.per_replica(&per_row))
    }

    /// The one dispatch on the update mode: each mode's row kernel, for either request.
    fn dispatch(
        &mut self,
        req: Request<'_>,
        phase: Phase,
        par: Par<'_>,
        owner: &str,
        stop: Interrupt<'_>,
    ) -> Result<UpdateStats, CoreError> {
        let dev = self.device.clone();
        match self.mode {
            UpdateMode::Expected(p) => {
                let work = self.row_work(req, None);
                self.rows(
                    req,
                    phase,
                    par,
                    (&work, owner, stop),
                    |prow, crow, mrow, drow, s| expected::row(&dev, p, prow, crow, mrow, drow, s),
                )
            }
            UpdateMode::PulseCount(p) => {
                let work = self.row_work(req, Some(p.max_bl));
                self.rows(
                    req,
                    phase,
                    par,
                    (&work, owner, stop),
                    |prow, crow, mrow, drow, s| {
                        pulse_count::row(&dev, p, prow, crow, mrow, drow, s)
                    },
                )
            }
            UpdateMode::StochasticPulse(p) => match req {
                Request::Outer { xs, ds, b, lr } => {
                    stochastic::update(self, p, xs, ds, b, lr, phase, par, (owner, stop))
                }
                Request::Delta { .. } => Err(no_delta_in_stochastic(owner)),
            },
        }
    }

    /// Estimated work of each row (element visits, times the batch for an outer product, plus
    /// an upper bound of the pulses when `max_bl` is given), or an empty vector when the whole
    /// call is surely below one window (no chunking, no extra pass).
    fn row_work(&self, req: Request<'_>, max_bl: Option<u32>) -> Vec<u64> {
        let (r, o, i) = self.shape();
        let b = match req {
            Request::Outer { b, .. } => b.max(1),
            Request::Delta { .. } => 1,
        };
        let per_elem = (b as u64).saturating_add(max_bl.map_or(0, u64::from));
        let bound = ((r * o * i) as u64).saturating_mul(per_elem);
        if bound <= window_work() {
            return Vec::new();
        }
        let base = (i as u64).saturating_mul(b as u64);
        let Some(max_bl) = max_bl.map(f64::from) else {
            return vec![base; r * o];
        };
        let dw_min = self.device.dw_min;
        let pulses = |ratio: f64| ratio.ceil().min(max_bl) as u64;
        match req {
            Request::Delta { ds } => ds
                .chunks(i.max(1))
                .map(|dr| {
                    dr.iter()
                        .fold(base, |a, v| a.saturating_add(pulses(v.abs() / dw_min)))
                })
                .collect(),
            Request::Outer { xs, ds, b, lr } => {
                // |Δ_ij| <= lr · Σ_b |d_bi| · max_b |x_bj|, per replica.
                let mut out = Vec::with_capacity(r * o);
                for rep in 0..r {
                    let mut xmax = vec![0.0f64; i];
                    for bb in 0..b {
                        for (m, v) in xmax.iter_mut().zip(row(xs, rep * b + bb, i)) {
                            *m = m.max(v.abs());
                        }
                    }
                    for rw in 0..o {
                        let dsum: f64 = (0..b)
                            .map(|bb| ds.get((rep * b + bb) * o + rw).map_or(0.0, |v| v.abs()))
                            .sum();
                        let scale = lr * dsum / dw_min;
                        out.push(
                            xmax.iter()
                                .fold(base, |a, xm| a.saturating_add(pulses(scale * xm))),
                        );
                    }
                }
                out
            }
        }
    }

    /// Runs a row kernel `k(prow, crow, mrow, Δ row, stream)` on every row, Δ formed per block
    /// of rows from the batch (batch summed in index order) or taken from the request, each
    /// row on its `UPDATE` stream at this call's tick; returns the pulses per replica. Rows go
    /// in windows of about [`window_work`] by `work` (one window if `work` is empty), `stop`
    /// asked between windows.
    fn rows<K>(
        &mut self,
        req: Request<'_>,
        phase: Phase,
        par: Par<'_>,
        (work, owner, stop): (&[u64], &str, Interrupt<'_>),
        k: K,
    ) -> Result<UpdateStats, CoreError>
    where
        K: Fn(&mut [f64], &mut [u64], &[ElemMap], &[f64], &mut Stream) -> u64 + Sync + Send,
    {
        let (o, i) = (self.out_size, self.in_size);
        let rows = self.replicas * o;
        let ks = self.next_tick().keyed(tag::UPDATE, 0);
        let mut per_row: Vec<u64> = Vec::with_capacity(rows);
        let mut first = 0;
        while first < rows {
            let mut last = first;
            if work.is_empty() {
                last = rows;
            } else {
                let mut acc = 0u64;
                while last < rows && (last == first || acc < window_work()) {
                    acc = acc.saturating_add(work.get(last).copied().unwrap_or(0));
                    last += 1;
                }
            }
            let (state, counters, maps) = self.rows_mut(phase);
            let span = first * i..last * i;
            let (Some(state), Some(counters), Some(maps)) = (
                state.get_mut(span.clone()),
                counters.get_mut(span.clone()),
                maps.get(span),
            ) else {
                unreachable!("rows first..last are in range by construction")
            };
            let len = state.len();
            let chunk: Vec<u64> = match req {
                Request::Delta { ds } => par.run(len, |parallel| {
                    map_row_blocks(
                        parallel,
                        i,
                        1,
                        state,
                        counters,
                        maps,
                        |g, prow, crow, mrow| {
                            let g = first + g;
                            let mut s = ks.row_stream(g);
                            k(prow, crow, mrow, row(ds, g, i), &mut s)
                        },
                    )
                }),
                Request::Outer { xs, ds, b, lr } => par.run(len * b.max(1), |parallel| {
                    outer_rows(
                        parallel,
                        ks,
                        (o, i, first),
                        (xs, ds, b, lr),
                        state,
                        counters,
                        maps,
                        &k,
                    )
                }),
            };
            per_row.extend(chunk);
            first = last;
            if first < rows && stop() {
                return Err(CoreError::Interrupted {
                    owner: owner.to_owned(),
                });
            }
        }
        Ok(self.per_replica(&per_row))
    }
}

/// Estimated work of one window of rows of an update (element visits and pulses): 4·CHUNK_WORK.
fn window_work() -> u64 {
    CHUNK_WORK.saturating_mul(4)
}

/// Expected and pulse-count modes on a batch: Δ per block of [`OUTER_ROWS`] rows (batch
/// summed in index order from 0.0), then the row kernel `k` on each row. Each x row of the
/// batch is read once per block, not once per row (the batch's x does not stay in the cache
/// across rows of a large tile).
#[allow(clippy::type_complexity)]
fn outer_rows<K>(
    parallel: bool,
    ks: Keyed,
    (o, i, first): (usize, usize, usize),
    (xs, ds, b, lr): (&[f64], &[f64], usize, f64),
    state: &mut [f64],
    counters: &mut [u64],
    maps: &[ElemMap],
    k: &K,
) -> Vec<u64>
where
    K: Fn(&mut [f64], &mut [u64], &[ElemMap], &[f64], &mut Stream) -> u64 + Sync + Send,
{
    let per_block = map_row_blocks(
        parallel,
        i,
        OUTER_ROWS,
        state,
        counters,
        maps,
        |g0, pblk, cblk, mblk| {
            let g0 = first + g0;
            let nrows = pblk.len() / i.max(1);
            // Δ_ij = −lr Σ_b d_bi x_bj, the batch summed in index order from 0.0.
            let mut acc = vec![0.0; nrows * i];
            for bb in 0..b {
                for (kk, arow) in acc.chunks_exact_mut(i).enumerate() {
                    let (r, rw) = ((g0 + kk) / o, (g0 + kk) % o);
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
                .map(|(kk, (((prow, crow), mrow), drow))| {
                    let mut s = ks.row_stream(g0 + kk);
                    k(prow, crow, mrow, drow, &mut s)
                })
                .collect::<Vec<u64>>()
        },
    );
    per_block.into_iter().flatten().collect()
}
