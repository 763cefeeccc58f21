//! Zero-shift calibration (shared/theory.md §3.9, P3 Alg. 1; docs/KERNEL_SPEC.md §9): many
//! pulses per element, counted as `CALIBRATION`, averaging the state to estimate each element's
//! symmetric point.

use ndarray::Array3;

use crate::error::CoreError;
use crate::par::{map_row_blocks, Par};
use crate::pulse::Pulser;
use crate::rng::tag;
use crate::tile::{Phase, Tile};

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
        let i = self.in_size;
        let pulser = Pulser::new(&self.device);
        let work = self
            .state
            .len()
            .saturating_mul(n_pulses.min(1 << 20) as usize);
        let first_avg = n_pulses - average_last;
        let st = self.next_tick();
        let (state, counters, maps) = self.rows_mut(Phase::Calibration);
        let per_row: Vec<Vec<f64>> = par.run(work, |parallel| {
            map_row_blocks(
                parallel,
                i,
                1,
                state,
                counters,
                maps,
                |g, prow, crow, mrow| {
                    let mut s = st.row_stream(g, tag::CALIBRATION);
                    let mut avg = vec![0.0; prow.len()];
                    for (((p, c), m), a) in
                        prow.iter_mut().zip(crow.iter_mut()).zip(mrow).zip(&mut avg)
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
            )
        });
        let flat: Vec<f64> = per_row.into_iter().flatten().collect();
        Ok(Array3::from_shape_vec(self.shape(), flat)
            .unwrap_or_else(|_| unreachable!("R*out rows of in values by construction")))
    }
}
