//! Philox4x64-10, bit for bit equal to `numpy.random.Philox`, and the stream layout.
//!
//! A stream is addressed by `(key, tick, replica, row, tag_word)` and opened at counter
//! `[0, tick, replica << 32 | row, tag_word]`; like NumPy, the counter is incremented before each
//! block, so `np.random.Philox(key=key, counter=[0, tick, (r << 32) | row, tag_word])` replays it
//! (shared/DESIGN.md §5.3). `tag_word = tag | sample << 8`.

/// Version of the random streams; bumped whenever any drawn value changes.
pub const RNG_SCHEME: u32 = 1;

/// Stream tags (low byte of the counter's last word).
pub mod tag {
    /// Device-to-device maps, drawn once at construction.
    pub const CONSTRUCTION: u64 = 0;
    /// Per-row update randomness: d trains, rounding, cycle noise.
    pub const UPDATE: u64 = 1;
    /// Per-column x trains of the stochastic pulse update.
    pub const TRAIN_X: u64 = 2;
    /// Noisy reads.
    pub const READ: u64 = 3;
    /// Forward pass periphery.
    pub const FORWARD: u64 = 4;
    /// Backward pass periphery.
    pub const BACKWARD: u64 = 5;
    /// Calibration pulses.
    pub const CALIBRATION: u64 = 6;
    /// Per-replica noise of problems (gradient noise), drawn by `replica_normals`.
    pub const PROBLEM: u64 = 7;
}

const PHILOX_M0: u64 = 0xD2E7_470E_E14C_6C93;
const PHILOX_M1: u64 = 0xCA5A_8263_9512_1157;
const PHILOX_W0: u64 = 0x9E37_79B9_7F4A_7C15;
const PHILOX_W1: u64 = 0xBB67_AE85_84CA_A73B;

#[inline]
fn mulhilo(a: u64, b: u64) -> (u64, u64) {
    let p = u128::from(a) * u128::from(b);
    ((p >> 64) as u64, p as u64)
}

/// One Philox4x64-10 block: ten rounds of the counter under the key. Never panics.
#[inline]
pub fn philox4x64_10(ctr: [u64; 4], key: [u64; 2]) -> [u64; 4] {
    let mut c = ctr;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// A sequential Philox stream, the Rust twin of `Generator(Philox(key=…, counter=…))`.
#[derive(Clone, Debug)]
pub struct Stream {
    key: [u64; 2],
    ctr: [u64; 4],
    buf: [u64; 4],
    pos: usize,
}

impl Stream {
    /// Opens the stream at a raw counter (the value NumPy's `counter=` receives).
    pub fn with_counter(key: [u64; 2], counter: [u64; 4]) -> Self {
        Stream {
            key,
            ctr: counter,
            buf: [0; 4],
            pos: 4,
        }
    }

    /// Opens the stream of `(tick, replica, row, tag, sample)`.
    pub fn open(key: [u64; 2], tick: u64, replica: u64, row: u64, tag: u64, sample: u64) -> Self {
        Self::with_counter(key, [0, tick, (replica << 32) | row, tag | (sample << 8)])
    }

    /// Next raw 64-bit word, in `random_raw` order.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        if self.pos >= 4 {
            // NumPy increments (with carry) before computing each block.
            for w in &mut self.ctr {
                *w = w.wrapping_add(1);
                if *w != 0 {
                    break;
                }
            }
            self.buf = philox4x64_10(self.ctr, self.key);
            self.pos = 0;
        }
        let v = self.buf[self.pos & 3];
        self.pos += 1;
        v
    }

    /// A uniform double in [0, 1): `(x >> 11) * 2^-53`, as NumPy's `random()`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal by Box–Muller (cosine branch), from two uniforms:
    /// `sqrt(-2 ln(1 - u1)) * cos((2π) u2)`. Frozen by golden vectors.
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform();
        let u2 = self.uniform();
        (-2.0 * (1.0 - u1).ln()).sqrt() * ((2.0 * std::f64::consts::PI) * u2).cos()
    }
}

/// Standard normals for R replicas at one tick: row r holds the first `n` normals of the stream
/// `(key, tick, replica_offset + r, row 0, tag)`, so replica r's values do not depend on R or
/// on the thread count. Parallel over replicas.
pub fn replica_normals(
    key: [u64; 2],
    tick: u64,
    replica_offset: u64,
    replicas: usize,
    n: usize,
    tag: u64,
) -> Vec<f64> {
    use rayon::prelude::*;
    let mut out = vec![0.0; replicas * n];
    let f = |(r, row): (usize, &mut [f64])| {
        let mut s = Stream::open(key, tick, replica_offset + r as u64, 0, tag, 0);
        for v in row {
            *v = s.normal();
        }
    };
    if n > 0 {
        if crate::tile::worth_parallel(replicas * n) {
            out.par_chunks_mut(n).enumerate().for_each(f);
        } else {
            out.chunks_mut(n).enumerate().for_each(f);
        }
    }
    out
}

/// Uniforms in [0, 1) for R replicas at one tick, laid out like [`replica_normals`].
pub fn replica_uniforms(
    key: [u64; 2],
    tick: u64,
    replica_offset: u64,
    replicas: usize,
    n: usize,
    tag: u64,
) -> Vec<f64> {
    use rayon::prelude::*;
    let mut out = vec![0.0; replicas * n];
    let f = |(r, row): (usize, &mut [f64])| {
        let mut s = Stream::open(key, tick, replica_offset + r as u64, 0, tag, 0);
        for v in row {
            *v = s.uniform();
        }
    };
    if n > 0 {
        if crate::tile::worth_parallel(replicas * n) {
            out.par_chunks_mut(n).enumerate().for_each(f);
        } else {
            out.chunks_mut(n).enumerate().for_each(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_carries_like_numpy() {
        let mut s = Stream::with_counter([1, 2], [u64::MAX, 0, 0, 0]);
        let a = s.next_u64();
        assert_eq!(a, philox4x64_10([0, 1, 0, 0], [1, 2])[0]);
    }
}
