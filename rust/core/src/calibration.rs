//! Zero-shift calibration (shared/theory.md §3.9, P3 Alg. 1; docs/KERNEL_SPEC.md §9): many
//! pulses per element, counted as `CALIBRATION`, averaging the state to estimate each element's
//! symmetric point.

use ndarray::Array3;

use crate::error::CoreError;
use crate::par::Par;
use crate::pulse::Pulser;
use crate::rng::{tag, Stream};
use crate::tile::{map_rows_with, try_collect, Interrupt, Phase, Tile, CHUNK_WORK};

/// Where zero-shifting stands on one row between chunks: the column and pulse next to fire,
/// the row's `CALIBRATION` stream there, the column's current sign word and running sum, and
/// the row's averages so far.
struct ZsCursor {
    s: Stream,
    j: usize,
    k: u64,
    word: u64,
    sum: f64,
    avg: Vec<f64>,
}

impl Tile {
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
        par: Par<'_>,
    ) -> Result<Array3<f64>, CoreError> {
        self.zero_shift_interruptible(n_pulses, cyclic, average_last, par, &mut || false)
    }

    /// [`Tile::zero_shift`] in chunks of about [`CHUNK_WORK`] pulses, asking `stop` between
    /// chunks. Each row keeps its place (column, pulse, stream, the current sign word and
    /// running sum) between chunks, so an uninterrupted call is bit-identical to one pass. A
    /// chunk ends after whole pulses: a stopped call leaves each row's elements with all
    /// `n_pulses` fired up to some column, that column with some, the rest with none, and every
    /// counter equal to the pulses its element received.
    ///
    /// # Errors
    /// As [`Tile::zero_shift`], and [`CoreError::Interrupted`] when `stop` returns true (the
    /// tile then holds the pulses fired so far, counted). Never panics.
    pub fn zero_shift_interruptible(
        &mut self,
        n_pulses: u64,
        cyclic: bool,
        average_last: u64,
        par: Par<'_>,
        stop: Interrupt<'_>,
    ) -> Result<Array3<f64>, CoreError> {
        const OWNER: &str = "zero_shift";
        Self::zero_shift_checks(n_pulses, average_last)?;
        let i = self.in_size;
        let rows = self.replicas * self.out_size;
        let pulser = Pulser::new(&self.device);
        let first_avg = n_pulses - average_last;
        let mut cursors = try_collect(rows, "n_pulses", OWNER, |_| ZsCursor {
            s: Stream::open([0, 0], 0, 0, 0, 0, 0),
            j: 0,
            k: 0,
            word: 0,
            sum: 0.0,
            avg: Vec::new(),
        })?;
        let ks = self.next_tick().keyed(tag::CALIBRATION, 0);
        for (g, c) in cursors.iter_mut().enumerate() {
            c.s = ks.row_stream(g);
        }
        // Pulses per row per chunk: the chunk's work shared by the rows, at least 64.
        let budget = (CHUNK_WORK / rows.max(1) as u64).max(64);
        loop {
            let (state, counters, maps) = self.rows_mut(Phase::Calibration);
            let work = rows.saturating_mul(budget as usize);
            let done = par.run(work, |parallel| {
                map_rows_with(
                    parallel,
                    i,
                    0,
                    state,
                    counters,
                    maps,
                    &mut cursors,
                    |_, prow, crow, mrow, cur| {
                        let width = prow.len();
                        let mut left = budget;
                        while left > 0 {
                            let j = cur.j;
                            let (Some(p), Some(c), Some(m)) =
                                (prow.get_mut(j), crow.get_mut(j), mrow.get(j))
                            else {
                                return true;
                            };
                            if cur.avg.is_empty() {
                                cur.avg = vec![0.0; width];
                            }
                            let end = n_pulses.min(cur.k.saturating_add(left));
                            for k in cur.k..end {
                                let up = if cyclic {
                                    k % 2 == 0
                                } else {
                                    if k % 64 == 0 {
                                        cur.word = cur.s.next_u64();
                                    }
                                    (cur.word >> (k % 64)) & 1 == 1
                                };
                                pulser.fire(p, m, up, 1, &mut cur.s);
                                if k >= first_avg {
                                    cur.sum += *p;
                                }
                            }
                            *c = c.saturating_add(end - cur.k);
                            left -= end - cur.k;
                            cur.k = end;
                            if end == n_pulses {
                                if let Some(a) = cur.avg.get_mut(j) {
                                    *a = cur.sum / average_last as f64;
                                }
                                (cur.j, cur.k, cur.word, cur.sum) = (j + 1, 0, 0, 0.0);
                            }
                        }
                        cur.j >= width
                    },
                )
            });
            if done.iter().all(|&d| d) {
                break;
            }
            if stop() {
                return Err(CoreError::Interrupted {
                    owner: OWNER.to_owned(),
                });
            }
        }
        let mut flat: Vec<f64> = Vec::new();
        flat.try_reserve_exact(self.state.len()).map_err(|_| {
            CoreError::param(
                "n_pulses",
                OWNER,
                "small enough that the call fits in memory",
                n_pulses,
            )
        })?;
        for c in cursors {
            flat.extend(c.avg);
        }
        Ok(Array3::from_shape_vec(self.shape(), flat)
            .unwrap_or_else(|_| unreachable!("R*out rows of in values by construction")))
    }

    fn zero_shift_checks(n_pulses: u64, average_last: u64) -> Result<(), CoreError> {
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
        Ok(())
    }
}
