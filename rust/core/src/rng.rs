//! Philox4x64-10, bit for bit equal to `numpy.random.Philox`, and the stream layout.
//!
//! A stream is addressed by `(key, tick, replica, row, tag_word)` and opened at counter
//! `[0, tick, replica << 32 | row, tag_word]`; like NumPy, the counter is incremented before each
//! block, so `np.random.Philox(key=key, counter=[0, tick, (r << 32) | row, tag_word])` replays it
//! (shared/DESIGN.md §5.3). `tag_word = tag | sample << 8`.

/// Version of the random streams; bumped whenever any drawn value changes.
/// 1: Box–Muller normals. 2: ziggurat normals (one 64-bit word per normal ~99% of the time).
pub const RNG_SCHEME: u32 = 2;

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
    /// Per-replica chopper signs of the tracking algorithms, drawn by `replica_uniforms`.
    pub const CHOPPER: u64 = 8;
}

/// Every stream tag by name (UPPER_SNAKE, as in [`tag`]), in tag order.
pub const TAGS: &[(&str, u64)] = &[
    ("CONSTRUCTION", tag::CONSTRUCTION),
    ("UPDATE", tag::UPDATE),
    ("TRAIN_X", tag::TRAIN_X),
    ("READ", tag::READ),
    ("FORWARD", tag::FORWARD),
    ("BACKWARD", tag::BACKWARD),
    ("CALIBRATION", tag::CALIBRATION),
    ("PROBLEM", tag::PROBLEM),
    ("CHOPPER", tag::CHOPPER),
];

use crate::par::{for_each_row, Par};

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

/// Philox blocks computed together by the bulk refills of a [`Stream`]: independent counters are
/// interleaved so that their multiplies overlap.
pub const BULK_BLOCKS: usize = 4;

/// [`BULK_BLOCKS`] Philox4x64-10 blocks at once, each equal to [`philox4x64_10`] of its counter.
#[inline]
pub fn philox4x64_10_many(ctrs: [[u64; 4]; BULK_BLOCKS], key: [u64; 2]) -> [[u64; 4]; BULK_BLOCKS] {
    let mut c = ctrs;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        for cc in &mut c {
            let (hi0, lo0) = mulhilo(PHILOX_M0, cc[0]);
            let (hi1, lo1) = mulhilo(PHILOX_M1, cc[2]);
            *cc = [hi1 ^ cc[1] ^ k[0], lo1, hi0 ^ cc[3] ^ k[1], lo0];
        }
    }
    c
}

/// NumPy's counter increment (with carry over the four words).
#[inline]
fn bump(ctr: &mut [u64; 4]) {
    for w in ctr {
        *w = w.wrapping_add(1);
        if *w != 0 {
            break;
        }
    }
}

/// A sequential Philox stream, the Rust twin of `Generator(Philox(key=…, counter=…))`.
///
/// The drawn sequence depends only on the key and the opening counter; the bulk fills
/// ([`Stream::fill_normals`], [`Stream::bernoulli_bits`]) compute several blocks per refill
/// when they know that many words are wanted, which changes nothing but the speed.
#[derive(Clone, Debug)]
pub struct Stream {
    key: [u64; 2],
    ctr: [u64; 4],
    buf: [u64; 4 * BULK_BLOCKS],
    pos: usize,
    len: usize,
}

impl Stream {
    /// Opens the stream at a raw counter (the value NumPy's `counter=` receives).
    pub fn with_counter(key: [u64; 2], counter: [u64; 4]) -> Self {
        Stream {
            key,
            ctr: counter,
            buf: [0; 4 * BULK_BLOCKS],
            pos: 0,
            len: 0,
        }
    }

    /// Opens the stream of `(tick, replica, row, tag, sample)`.
    pub fn open(key: [u64; 2], tick: u64, replica: u64, row: u64, tag: u64, sample: u64) -> Self {
        Self::with_counter(key, [0, tick, (replica << 32) | row, tag | (sample << 8)])
    }

    /// Next raw 64-bit word, in `random_raw` order.
    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        if self.pos >= self.len {
            self.refill(1);
        }
        let v = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }

    /// Computes the next block(s): NumPy increments the counter (with carry) before each block.
    /// [`BULK_BLOCKS`] blocks at once (their multiplies interleaved) when at least `wanted`
    /// words will be drawn, else one, so a short draw never computes blocks it will not use.
    #[inline(never)]
    fn refill(&mut self, wanted: usize) {
        if wanted > 4 * (BULK_BLOCKS - 1) {
            let mut ctrs = [[0u64; 4]; BULK_BLOCKS];
            for c in &mut ctrs {
                bump(&mut self.ctr);
                *c = self.ctr;
            }
            let out = philox4x64_10_many(ctrs, self.key);
            for (dst, src) in self.buf.chunks_exact_mut(4).zip(out) {
                dst.copy_from_slice(&src);
            }
            self.len = 4 * BULK_BLOCKS;
        } else {
            bump(&mut self.ctr);
            let out = philox4x64_10(self.ctr, self.key);
            if let Some(dst) = self.buf.get_mut(..4) {
                dst.copy_from_slice(&out);
            }
            self.len = 4;
        }
        self.pos = 0;
    }

    /// A uniform double in [0, 1): `(x >> 11) * 2^-53`, as NumPy's `random()`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        // < 2^53: the signed conversion is exact and one instruction.
        ((self.next_u64() >> 11) as i64) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal by the 256-layer ziggurat (Marsaglia & Tsang 2000) on 64-bit words:
    /// bits 0–7 pick the layer, bit 8 the sign, bits 11–63 the 53-bit magnitude. About 99% of
    /// the draws take one word and one compare; the rest use the wedge or tail tests with
    /// uniforms from the same stream. Frozen by golden vectors; `pulsetrain.reference` mirrors it.
    #[inline(always)]
    pub fn normal(&mut self) -> f64 {
        let z = ziggurat();
        loop {
            let r = self.next_u64();
            let idx = (r & 0xff) as usize;
            // Bit 8 as the sign bit: negation by xor, without a (50% mispredicted) branch.
            let sign = ((r >> 8) & 1) << 63;
            let rabs = r >> 11;
            let (k, w) = (z.k[idx], z.w[idx]);
            // rabs < 2^53: the signed conversion is exact and one instruction.
            let x = (rabs as i64) as f64 * w;
            if rabs < k {
                return f64::from_bits(x.to_bits() ^ sign);
            }
            if let Some(v) = self.normal_slow(z, idx, x) {
                return f64::from_bits(v.to_bits() ^ sign);
            }
        }
    }

    /// Fills `out` with the next `out.len()` normals: the values [`Stream::normal`] would
    /// return one call at a time, with the buffer position kept in a register.
    pub fn fill_normals(&mut self, out: &mut [f64]) {
        let z = ziggurat();
        let mut done = 0;
        while done < out.len() {
            if self.pos >= self.len {
                self.refill(out.len() - done);
            }
            // The buffered words through the fast path in one tight loop; a word that fails
            // it leaves the loop for the wedge/tail test (which draws on from the stream).
            let words = self.buf.get(self.pos..self.len).unwrap_or(&[]);
            let dst = out.get_mut(done..).unwrap_or(&mut []);
            let mut used = 0;
            let mut slow = None;
            for (o, &r) in dst.iter_mut().zip(words) {
                used += 1;
                let idx = (r & 0xff) as usize;
                let rabs = r >> 11;
                let x = (rabs as i64) as f64 * z.w[idx];
                if rabs >= z.k[idx] {
                    slow = Some((idx, x, ((r >> 8) & 1) << 63));
                    break;
                }
                *o = f64::from_bits(x.to_bits() ^ (((r >> 8) & 1) << 63));
            }
            self.pos += used;
            if let Some((idx, x, sign)) = slow {
                done += used - 1;
                if let Some(v) = self.normal_slow(z, idx, x) {
                    if let Some(o) = out.get_mut(done) {
                        *o = f64::from_bits(v.to_bits() ^ sign);
                    }
                    done += 1;
                }
            } else {
                done += used;
            }
        }
    }

    /// A Bernoulli(p) train of `n` slots as bits (slot t is bit t % 64 of word t / 64, set when
    /// the t-th [`Stream::uniform`] is below `p`), OR-ed into `words`; true if any bit was set.
    pub fn bernoulli_bits(&mut self, p: f64, n: usize, words: &mut [u64]) -> bool {
        let (mut pos, mut len) = (self.pos, self.len);
        let mut any = 0u64;
        for t in 0..n {
            if pos >= len {
                self.refill(n - t);
                (pos, len) = (0, self.len);
            }
            let r = self.buf.get(pos).copied().unwrap_or(0);
            pos += 1;
            let u = ((r >> 11) as i64) as f64 * (1.0 / 9_007_199_254_740_992.0);
            let bit = u64::from(u < p);
            if let Some(w) = words.get_mut(t / 64) {
                *w |= bit << (t % 64);
            }
            any |= bit;
        }
        self.pos = pos;
        any != 0
    }

    /// The rare ziggurat branches: the tail beyond r (layer 0) or the wedge test; None = retry.
    #[inline(never)]
    fn normal_slow(&mut self, z: &Ziggurat, idx: usize, x: f64) -> Option<f64> {
        if idx == 0 {
            // Tail: Marsaglia's method, x = −ln(1 − U)/r until 2y > x² with y = −ln(1 − U').
            loop {
                let xx = -ZIGGURAT_INV_R * (-self.uniform()).ln_1p();
                let yy = -(-self.uniform()).ln_1p();
                if yy + yy > xx * xx {
                    return Some(ZIGGURAT_R + xx);
                }
            }
        }
        let f_hi = z.f.get(idx - 1).copied().unwrap_or(1.0);
        let f_lo = z.f.get(idx).copied().unwrap_or(0.0);
        if (f_hi - f_lo) * self.uniform() + f_lo < (-0.5 * x * x).exp() {
            Some(x)
        } else {
            None
        }
    }
}

/// The ziggurat's right-most layer edge r and the common layer area v (256 layers).
pub const ZIGGURAT_R: f64 = 3.654_152_885_361_009;
/// 1 / r.
pub const ZIGGURAT_INV_R: f64 = 1.0 / ZIGGURAT_R;
/// The area of each layer (Marsaglia & Tsang 2000, 256 layers).
pub const ZIGGURAT_V: f64 = 4.928_673_233_99e-3;

/// Ziggurat tables: acceptance thresholds `k` (53-bit), widths `w` and densities `f` per layer.
#[derive(Debug)]
pub struct Ziggurat {
    /// Magnitudes below `k[i]` are accepted at once in layer i.
    pub k: [u64; 256],
    /// Scale from the 53-bit magnitude to x in layer i.
    pub w: [f64; 256],
    /// exp(−x_i²/2) at the layer edges.
    pub f: [f64; 256],
}

/// Builds the tables with libm `exp`, `ln` and `sqrt` in a fixed order (the NumPy twin
/// rebuilds them with Python's `math` the same way, bit for bit).
fn build_ziggurat() -> Ziggurat {
    let m = 9_007_199_254_740_992.0; // 2^53
    let mut k = [0u64; 256];
    let mut w = [0.0f64; 256];
    let mut f = [0.0f64; 256];
    let mut dn = ZIGGURAT_R;
    let mut tn = dn;
    let q = ZIGGURAT_V / (-0.5 * dn * dn).exp();
    k[0] = ((dn / q) * m) as u64;
    k[1] = 0;
    w[0] = q / m;
    w[255] = dn / m;
    f[0] = 1.0;
    f[255] = (-0.5 * dn * dn).exp();
    for i in (1..=254).rev() {
        dn = (-2.0 * (ZIGGURAT_V / dn + (-0.5 * dn * dn).exp()).ln()).sqrt();
        k[i + 1] = ((dn / tn) * m) as u64;
        tn = dn;
        f[i] = (-0.5 * dn * dn).exp();
        w[i] = dn / m;
    }
    Ziggurat { k, w, f }
}

/// The process-wide ziggurat tables, built on first use.
pub fn ziggurat() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(build_ziggurat)
}

/// Draws for R replicas at one tick: row r holds the first `n` values `draw(stream)` of the
/// stream `(key, tick, replica_offset + r, row 0, tag)`, so replica r's values do not depend on
/// R or on the thread count. Parallel over replicas when `par` allows and the size is worth it.
/// `draw` is [`Stream::normal`] (problem noise) or [`Stream::uniform`] (chopper signs).
pub fn replica_draws<F>(
    key: [u64; 2],
    tick: u64,
    replica_offset: u64,
    replicas: usize,
    n: usize,
    tag: u64,
    draw: F,
    par: Par<'_>,
) -> Vec<f64>
where
    F: Fn(&mut Stream) -> f64 + Sync + Send,
{
    let mut out = vec![0.0; replicas * n];
    par.run(replicas * n, |parallel| {
        for_each_row(parallel, &mut out, n, |r, row| {
            let mut s = Stream::open(key, tick, replica_offset + r as u64, 0, tag, 0);
            for v in row {
                *v = draw(&mut s);
            }
        });
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_distinct_bytes_numbered_from_zero() {
        for (k, (name, t)) in TAGS.iter().enumerate() {
            assert_eq!(*t, k as u64, "{name}");
            assert!(*t < 256);
        }
    }

    #[test]
    fn counter_carries_like_numpy() {
        let mut s = Stream::with_counter([1, 2], [u64::MAX, 0, 0, 0]);
        let a = s.next_u64();
        assert_eq!(a, philox4x64_10([0, 1, 0, 0], [1, 2])[0]);
    }

    #[test]
    fn bulk_refills_draw_the_same_sequence() {
        // Across a carry, with normals (variable words per draw) and uniforms mixed.
        let ctr = [u64::MAX - 5, 7, 0, 3];
        let mut a = Stream::with_counter([9, 4], ctr);
        let mut b = Stream::with_counter([9, 4], ctr);
        for _ in 0..3 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut c = b.clone();
        let mut e = b.clone();
        let mut buf = vec![0.0; 7];
        let mut bits = [0u64; 2];
        for i in 0..300 {
            if i % 2 == 0 {
                c.fill_normals(&mut buf);
                for v in &buf {
                    assert_eq!(v.to_bits(), e.normal().to_bits());
                }
            } else {
                bits = [0, 0];
                let any = c.bernoulli_bits(0.3, 100, &mut bits);
                let mut want = [0u64; 2];
                for t in 0..100 {
                    if e.uniform() < 0.3 {
                        want[t / 64] |= 1 << (t % 64);
                    }
                }
                assert_eq!((any, bits), (want != [0, 0], want));
            }
        }
        assert_ne!(bits, [0, 0]);
        for i in 0..5000 {
            if i % 3 == 0 {
                assert_eq!(a.uniform().to_bits(), b.uniform().to_bits());
            } else {
                assert_eq!(a.normal().to_bits(), b.normal().to_bits());
            }
        }
    }
}
