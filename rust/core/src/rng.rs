//! Philox4x32-10 (Random123), the stream layout and the draws (docs/KERNEL_SPEC.md §3).
//!
//! A stream is addressed by `(key, tick, replica, row, tag, sample)`, written as the 4×64-bit
//! address `[0, tick, replica << 32 | row, tag | sample << 8]` (word 0 is the first block).
//! Its Philox key is a hash of the tile key, the tick and the tag word (two Philox4x32-10
//! blocks, [`stream_key`]); block b encrypts the counter `[lo(b), hi(b), row, replica]`.
//! The NumPy twin (`pulsetrain.twin.rng`) replays every word.

/// Version of the random streams; bumped whenever any drawn value changes.
/// 1: Box–Muller normals. 2: ziggurat normals (one 64-bit word per normal ~99% of the time).
/// 3: Philox4x32-10 with per-(tick, tag, sample) stream keys, 32-bit uniforms and a 32-bit
/// ziggurat (one 32-bit word per normal ~99% of the time).
pub const RNG_SCHEME: u32 = 3;

/// Stream tags (low byte of the address's tag word).
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
    /// The end-of-window normals of the stochastic update's windowed sampler (sample word:
    /// the window's index in the call).
    pub const AGGREGATE: u64 = 9;
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
    ("AGGREGATE", tag::AGGREGATE),
];

use crate::par::{for_each_row, Par};
use crate::simd::{
    philox_lanes, philox_lanes_wide, philox_nibbles, philox_nibbles_wide, philox_trains,
    philox_trains_wide, wide, ziggurat_run,
};

/// Philox blocks per vectorised refill (one per vector lane).
pub const PHILOX_LANES: usize = crate::simd::PHILOX_LANES;

/// Philox blocks per wide call (CPUs with AVX-512: [`crate::simd::wide`]).
const WIDE_LANES: usize = crate::simd::WIDE_LANES;

/// Philox4x32 multipliers and Weyl key increments (Random123 `philox.h`).
pub const PHILOX_M32_0: u32 = 0xD251_1F53;
/// Second multiplier.
pub const PHILOX_M32_1: u32 = 0xCD9E_8D57;
/// Key increment of word 0 (golden ratio).
pub const PHILOX_W32_0: u32 = 0x9E37_79B9;
/// Key increment of word 1 (sqrt(3) − 1).
pub const PHILOX_W32_1: u32 = 0xBB67_AE85;

/// One Philox4x32-10 block (Random123's `philox4x32(ctr, key)` with 10 rounds). Never panics.
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let (mut k0, mut k1) = (key[0], key[1]);
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(PHILOX_W32_0);
            k1 = k1.wrapping_add(PHILOX_W32_1);
        }
        let p0 = u64::from(PHILOX_M32_0) * u64::from(c[0]);
        let p1 = u64::from(PHILOX_M32_1) * u64::from(c[2]);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k0,
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k1,
            p0 as u32,
        ];
    }
    c
}

/// [`PHILOX_LANES`] consecutive blocks `first, first + 1, …` of the counter layout
/// `[lo(b), hi(b), row_rep[0], row_rep[1]]`, vectorised (runtime CPU dispatch; the same bits
/// on every target). `out[4j..4j + 4]` is block `first + j`.
pub fn philox4x32_10_lanes(
    first: u64,
    row_rep: [u32; 2],
    key: [u32; 2],
    out: &mut [u32; 4 * PHILOX_LANES],
) {
    philox_lanes(first, row_rep, key, out);
}

/// The first `bl` slots (`bl` ≤ 64) of a Bernoulli train on each stream at `row_words` under
/// `key`: `out[t]` (resized) has bit k set when word k of `Stream::with_key(key, row_words[t],
/// 0)` is below `thresholds[t]`, i.e. `bits_below(&words[..bl], thresholds[t])` on the
/// stream's first words. The streams' first ⌈bl/4⌉ blocks are computed [`PHILOX_LANES`]
/// (AVX-512: [`WIDE_LANES`]) at a time across the rows and compared in the vector lanes
/// (`philox_nibbles`), so no word
/// is stored. Rows beyond the shorter of `row_words` and `thresholds` are ignored. Never
/// panics.
pub fn first_bits(
    key: [u32; 2],
    row_words: &[u64],
    thresholds: &[u64],
    bl: usize,
    out: &mut Vec<u64>,
) {
    first_bits_each(key, row_words, thresholds, |_| bl, out);
}

/// [`first_bits`] with a train length per row: row `t`'s train has `bl(t)` slots (at most 64;
/// none for 0). Never panics.
pub fn first_bits_each(
    key: [u32; 2],
    row_words: &[u64],
    thresholds: &[u64],
    bl: impl Fn(usize) -> usize,
    out: &mut Vec<u64>,
) {
    first_bits_width(wide(), key, row_words, thresholds, bl, out);
}

/// [`first_bits_each`] on [`WIDE_LANES`] lanes per call (`wide`) or [`PHILOX_LANES`]; the same
/// bits either way.
fn first_bits_width(
    wide: bool,
    key: [u32; 2],
    row_words: &[u64],
    thresholds: &[u64],
    bl: impl Fn(usize) -> usize,
    out: &mut Vec<u64>,
) {
    let width = if wide { WIDE_LANES } else { PHILOX_LANES };
    let n = row_words.len().min(thresholds.len());
    out.clear();
    out.resize(n, 0);
    let slots = |t: usize| bl(t).min(64);
    // Trains all of one length whose blocks fill the lanes exactly (BL 1–4, 5–8, 9–16, 17–32,
    // 33–64): lane k·nb + b is block b of the call's k-th train, with no bookkeeping per lane.
    // (BL 1–4, one block per train, is the BL-management regime of a network's sparse layers:
    // their x trains of 784 columns a sample went 5% faster than through the general path.)
    let first = if n > 0 { slots(0) } else { 0 };
    if (0..n).all(|t| slots(t) == first) {
        let (rows, ths) = (row_words.get(..n), thresholds.get(..n));
        let (Some(rows), Some(ths)) = (rows, ths) else {
            return;
        };
        let done = match first.div_ceil(4) {
            1 => first_bits_uniform::<1>(wide, key, rows, ths, out),
            2 => first_bits_uniform::<2>(wide, key, rows, ths, out),
            4 => first_bits_uniform::<4>(wide, key, rows, ths, out),
            8 => first_bits_uniform::<8>(wide, key, rows, ths, out),
            16 => first_bits_uniform::<16>(wide, key, rows, ths, out),
            _ => false,
        };
        if done {
            let mask = if first == 0 {
                0
            } else {
                u64::MAX >> (64 - first)
            };
            for o in out.iter_mut() {
                *o &= mask;
            }
            return;
        }
    }
    // Every (train, block) pair in order: train t takes its first ⌈bl(t)/4⌉ blocks.
    let mut lanes = (0..n).flat_map(|t| (0..slots(t).div_ceil(4)).map(move |b| (t, b)));
    let (mut blocks, mut rows, mut ts) =
        ([0u64; WIDE_LANES], [0u64; WIDE_LANES], [0u64; WIDE_LANES]);
    let mut who = [(0usize, 0usize); WIDE_LANES];
    let mut nibbles = [0u64; WIDE_LANES];
    loop {
        // Lanes past the end keep their last values (computed, never used).
        let mut m = 0;
        let lanes_in = blocks.iter_mut().zip(&mut rows).zip(&mut ts).zip(&mut who);
        for (((blk, row), th), w) in lanes_in.take(width) {
            let Some((t, b)) = lanes.next() else {
                break;
            };
            (*blk, *row) = (b as u64, row_words.get(t).copied().unwrap_or(0));
            (*th, *w) = (thresholds.get(t).copied().unwrap_or(0), (t, b));
            m += 1;
        }
        if m == 0 {
            break;
        }
        nibbles_of(wide, (&blocks, &rows, &ts), key, &mut nibbles);
        // Each train's bits gathered in a register and stored when the next train begins
        // (a read-modify-write of memory per block would chain every block on the previous).
        let mut cur = who[0].0;
        let mut acc = out.get(cur).copied().unwrap_or(0);
        for (&x, &(t, _)) in nibbles.iter().zip(&who).take(m) {
            if t != cur {
                if let Some(o) = out.get_mut(cur) {
                    *o = acc;
                }
                (cur, acc) = (t, out.get(t).copied().unwrap_or(0));
            }
            // Block b's nibble, already at bits 4b..4b + 4.
            acc |= x;
        }
        if let Some(o) = out.get_mut(cur) {
            *o = acc;
        }
    }
    for (t, o) in out.iter_mut().enumerate() {
        let k = slots(t);
        *o &= if k == 0 { 0 } else { u64::MAX >> (64 - k) };
    }
}

/// The compare nibbles of one call's lanes, each at bits 4·(block mod 16) of its lane: all
/// [`WIDE_LANES`] (`wide`) or the first [`PHILOX_LANES`] (`philox_nibbles_wide` /
/// `philox_nibbles`; the same bits either way).
#[inline]
fn nibbles_of(
    wide: bool,
    (blocks, rows, ts): (&[u64; WIDE_LANES], &[u64; WIDE_LANES], &[u64; WIDE_LANES]),
    key: [u32; 2],
    nibbles: &mut [u64; WIDE_LANES],
) {
    if wide {
        philox_nibbles_wide(blocks, rows, key, ts, nibbles);
    } else if let (Some(b), Some(r), Some(t), Some(n)) = (
        blocks.first_chunk::<PHILOX_LANES>(),
        rows.first_chunk::<PHILOX_LANES>(),
        ts.first_chunk::<PHILOX_LANES>(),
        nibbles.first_chunk_mut::<PHILOX_LANES>(),
    ) {
        philox_nibbles(b, r, key, t, n);
    }
}

/// [`first_bits_width`] for trains of `NB` blocks each (`NB` divides the lanes): the dispatched
/// [`philox_trains_wide`] / [`philox_trains`] compute each call's blocks of `lanes / NB` trains
/// (lane `k·NB + b` block `b` of train `k`) and OR each train's placed nibbles into `out[t]`
/// (unmasked). `false` (nothing done) if `NB` does not divide the lanes.
fn first_bits_uniform<const NB: usize>(
    wide: bool,
    key: [u32; 2],
    row_words: &[u64],
    thresholds: &[u64],
    out: &mut [u64],
) -> bool {
    if wide {
        philox_trains_wide(NB, key, row_words, thresholds, out)
    } else {
        philox_trains(NB, key, row_words, thresholds, out)
    }
}

/// The stream `Stream::with_key(key, row_word, 0)` after `words` of its words were drawn:
/// block `words / 4`, its first `words % 4` words skipped. The same values follow. Never
/// panics.
pub fn stream_at_word(key: [u32; 2], row_word: u64, words: u64) -> Stream {
    let mut s = Stream::with_key(key, row_word, words / 4);
    for _ in 0..words % 4 {
        s.next_u32();
    }
    s
}

/// Words in a stream's buffer: one wide bulk refill, [`WIDE_LANES`] blocks of four (a narrow one
/// fills the first [`PHILOX_LANES`] blocks).
pub const BULK_WORDS: usize = 4 * WIDE_LANES;

#[inline]
fn split(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

/// The Philox4x32 key of the streams of one `(tick, tag word)` under a tile key `[k0, k1]`:
/// `h = philox4x32_10([lo k1, hi k1, lo tick, hi tick], [lo k0, hi k0])`, then the first two
/// words of `philox4x32_10([lo tagword, hi tagword, h2, h3], [h0, h1])`.
pub fn stream_key(key: [u64; 2], tick: u64, tag_word: u64) -> [u32; 2] {
    tag_key(tick_key(key, tick), tag_word)
}

/// The first half of [`stream_key`], the same for every tag word of a tick:
/// `h = philox4x32_10([lo k1, hi k1, lo tick, hi tick], [lo k0, hi k0])`.
pub fn tick_key(key: [u64; 2], tick: u64) -> [u32; 4] {
    let [a, b] = split(key[1]);
    let [t0, t1] = split(tick);
    philox4x32_10([a, b, t0, t1], split(key[0]))
}

/// The second half of [`stream_key`]: the first two words of
/// `philox4x32_10([lo tagword, hi tagword, h2, h3], [h0, h1])` for `h` = [`tick_key`].
pub fn tag_key(h: [u32; 4], tag_word: u64) -> [u32; 2] {
    let [g0, g1] = split(tag_word);
    let o = philox4x32_10([g0, g1, h[2], h[3]], [h[0], h[1]]);
    [o[0], o[1]]
}

/// A sequential stream of 32-bit Philox words (docs/KERNEL_SPEC.md §3).
///
/// The drawn sequence depends only on the key and the address; the bulk fills
/// ([`Stream::fill_normals`], [`Stream::bernoulli_bits`]) compute [`PHILOX_LANES`] blocks per
/// refill when they know that many words are wanted, which changes nothing but the speed.
#[derive(Clone, Debug)]
pub struct Stream {
    key: [u32; 2],
    row_rep: [u32; 2],
    block: u64,
    buf: [u32; BULK_WORDS],
    pos: usize,
    len: usize,
    /// Refills so far, saturating: a stream that has needed two refills is a long one.
    refills: u8,
}

impl Stream {
    /// Opens the stream at a raw address `[first block, tick, replica << 32 | row, tag word]`.
    pub fn with_counter(key: [u64; 2], address: [u64; 4]) -> Self {
        Self::with_key(
            stream_key(key, address[1], address[3]),
            address[2],
            address[0],
        )
    }

    /// Opens the stream whose Philox key [`stream_key`] already gave (from the tile key, the
    /// tick and the tag word), at `row_word` (`replica << 32 | row`) and `block`: the stream
    /// [`Stream::with_counter`] opens, without deriving the key again (two Philox blocks), for
    /// the many rows of one (tick, tag word).
    pub fn with_key(key: [u32; 2], row_word: u64, block: u64) -> Self {
        Stream {
            key,
            row_rep: split(row_word),
            block,
            buf: [0; BULK_WORDS],
            pos: 0,
            len: 0,
            refills: 0,
        }
    }

    /// The tag word of `(tag, sample)` in a stream address.
    #[inline]
    pub fn tag_word(tag: u64, sample: u64) -> u64 {
        tag | (sample << 8)
    }

    /// Opens the stream of `(tick, replica, row, tag, sample)`.
    pub fn open(key: [u64; 2], tick: u64, replica: u64, row: u64, tag: u64, sample: u64) -> Self {
        Self::with_counter(
            key,
            [0, tick, (replica << 32) | row, Self::tag_word(tag, sample)],
        )
    }

    /// Next raw 32-bit word.
    #[inline(always)]
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= self.len {
            self.refill(1);
        }
        let v = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }

    /// Two words as one: the first is the low half.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let lo = self.next_u32();
        u64::from(lo) | (u64::from(self.next_u32()) << 32)
    }

    /// Computes the next block(s): [`PHILOX_LANES`] blocks at once (vectorised) when more than
    /// eight words will be drawn or the stream has already been refilled twice (a long stream
    /// drawn a few words at a time), else one, so a short stream computes little it will not
    /// use. The words are the same either way.
    #[inline(never)]
    fn refill(&mut self, wanted: usize) {
        self.refills = self.refills.saturating_add(1);
        if wanted > 8 || self.refills > 2 {
            // The wide call where it pays (AVX-512), else sixteen blocks: the same words.
            let narrow = self.buf.first_chunk_mut::<{ 4 * PHILOX_LANES }>();
            let lanes = match narrow {
                Some(buf) if !wide() => {
                    philox_lanes(self.block, self.row_rep, self.key, buf);
                    PHILOX_LANES
                }
                _ => {
                    philox_lanes_wide(self.block, self.row_rep, self.key, &mut self.buf);
                    WIDE_LANES
                }
            };
            self.block = self.block.wrapping_add(lanes as u64);
            self.len = 4 * lanes;
        } else {
            let [b0, b1] = split(self.block);
            let out = philox4x32_10([b0, b1, self.row_rep[0], self.row_rep[1]], self.key);
            if let Some(dst) = self.buf.get_mut(..4) {
                dst.copy_from_slice(&out);
            }
            self.block = self.block.wrapping_add(1);
            self.len = 4;
        }
        self.pos = 0;
    }

    /// A uniform double in [0, 1): `x · 2⁻³²` of the next 32-bit word x (exact).
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        f64::from(self.next_u32()) * UNIFORM_SCALE
    }

    /// A standard normal by the 256-layer ziggurat (Marsaglia & Tsang 2000) on one 32-bit
    /// word: bits 0–7 pick the layer, bit 8 the sign, bits 9–31 the 23-bit magnitude. About
    /// 99% of the draws take one word and one compare; the rest use the exact wedge or tail
    /// tests with uniforms from the same stream. Frozen by golden vectors; the twin mirrors it.
    #[inline(always)]
    pub fn normal(&mut self) -> f64 {
        let z = ziggurat();
        loop {
            let r = self.next_u32();
            let idx = (r & 0xff) as usize;
            // Bit 8 as the sign bit: negation by xor, without a (50% mispredicted) branch.
            let sign = u64::from((r >> 8) & 1) << 63;
            let rabs = r >> 9;
            let (k, w) = (z.k[idx], z.w[idx]);
            let x = f64::from(rabs) * w;
            if rabs < k {
                return f64::from_bits(x.to_bits() ^ sign);
            }
            if let Some(v) = self.normal_slow(z, idx, x) {
                return f64::from_bits(v.to_bits() ^ sign);
            }
        }
    }

    /// Fills `out` with the next `out.len()` normals: the values [`Stream::normal`] would
    /// return one call at a time, the fast path run over the buffered words in vectors.
    pub fn fill_normals(&mut self, out: &mut [f64]) {
        let z = ziggurat();
        let mut done = 0;
        while done < out.len() {
            if self.pos >= self.len {
                self.refill(out.len() - done);
            }
            // The buffered words through the fast path, eight at a time (`simd::ziggurat_run`); a
            // word that fails it goes to the wedge/tail test (which draws on from the stream).
            let words = self.buf.get(self.pos..self.len).unwrap_or(&[]);
            let dst = out.get_mut(done..).unwrap_or(&mut []);
            let m = words.len().min(dst.len());
            let accepted = ziggurat_run(words, &z.k, &z.w, dst);
            if accepted < m {
                let r = words.get(accepted).copied().unwrap_or(0);
                let idx = (r & 0xff) as usize;
                let x = f64::from(r >> 9) * z.w[idx];
                let sign = u64::from((r >> 8) & 1) << 63;
                self.pos += accepted + 1;
                done += accepted;
                if let Some(v) = self.normal_slow(z, idx, x) {
                    if let Some(o) = out.get_mut(done) {
                        *o = f64::from_bits(v.to_bits() ^ sign);
                    }
                    done += 1;
                }
            } else {
                self.pos += m;
                done += m;
            }
        }
    }

    /// A Bernoulli(p) train of `n` slots as bits (slot t is bit t % 64 of word t / 64, set when
    /// the t-th [`Stream::uniform`] is below `p`), OR-ed into `words`; true if any bit was set.
    pub fn bernoulli_bits(&mut self, p: f64, n: usize, words: &mut [u64]) -> bool {
        let threshold = bernoulli_threshold(p);
        let mut any = 0u64;
        let mut t = 0;
        while t < n {
            if self.pos >= self.len {
                self.refill(n - t);
            }
            let avail = (self.len - self.pos).min(n - t);
            let mut src = self.buf.get(self.pos..self.pos + avail).unwrap_or(&[]);
            // The bits of one output word gathered in a register and OR-ed in once (a
            // read-modify-write of memory per slot made every slot wait for the previous one).
            while !src.is_empty() {
                let shift = t % 64;
                let (piece, rest) = src.split_at((64 - shift).min(src.len()));
                let acc = bits_below(piece, threshold) << shift;
                if let Some(w) = words.get_mut(t / 64) {
                    *w |= acc;
                }
                any |= acc;
                t += piece.len();
                src = rest;
            }
            self.pos += avail;
        }
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

/// Bit k set for each of the (at most 64) words `words[k] < threshold`: the slots of a
/// Bernoulli train from its words, with `threshold` = [`bernoulli_threshold`]`(p)`.
#[inline]
pub(crate) fn bits_below(words: &[u32], threshold: u64) -> u64 {
    let words = words.get(..64).unwrap_or(words);
    let Ok(t) = u32::try_from(threshold) else {
        // p = 1: every word is below 2³².
        return match words.len() {
            0 => 0,
            n => u64::MAX >> (64 - n),
        };
    };
    // Eight slots at a time into a byte of the result (a shape the compiler vectorises), then
    // the rest one by one: bit k is `words[k] < t` as before.
    let mut acc = 0u64;
    let mut chunks = words.chunks_exact(8);
    for (c, ch) in chunks.by_ref().enumerate() {
        let mut m = 0u64;
        for (k, &r) in ch.iter().enumerate() {
            m |= u64::from(r < t) << k;
        }
        acc |= m << (8 * c);
    }
    let done = words.len() - chunks.remainder().len();
    for (k, &r) in chunks.remainder().iter().enumerate() {
        acc |= u64::from(r < t) << (done + k);
    }
    acc
}

/// The integer form of the test `x·2⁻³² < p` for a 32-bit word x: `x < bernoulli_threshold(p)`.
/// x·2⁻³² < p ⇔ x < p·2³² (scaling by a power of two is exact) ⇔ x < ⌈p·2³²⌉ for an integer
/// x; the saturating cast keeps NaN and p ≤ 0 at 0 (no bit) and p ≥ 1 at ≥ 2³² (every bit).
#[inline]
pub(crate) fn bernoulli_threshold(p: f64) -> u64 {
    ceil_u64(p * 4_294_967_296.0)
}

/// `t.ceil() as u64` (saturating; NaN gives 0) without the call to libm's `ceil` that the
/// baseline x86-64 target makes (it has no rounding instruction before SSE4.1): the cast
/// truncates, and a value above its truncation is not an integer, so it rounds up. A value
/// of 2⁵² or more is an integer, so the truncation is exact wherever the test could fail.
#[inline]
pub(crate) fn ceil_u64(t: f64) -> u64 {
    let i = t as u64;
    i.saturating_add(u64::from((i as f64) < t))
}

/// 2⁻³²: a 32-bit word to a uniform in [0, 1).
const UNIFORM_SCALE: f64 = 1.0 / 4_294_967_296.0;

/// The ziggurat's right-most layer edge r and the common layer area v (256 layers).
pub const ZIGGURAT_R: f64 = 3.654_152_885_361_009;
/// 1 / r.
pub const ZIGGURAT_INV_R: f64 = 1.0 / ZIGGURAT_R;
/// The area of each layer (Marsaglia & Tsang 2000, 256 layers).
pub const ZIGGURAT_V: f64 = 4.928_673_233_99e-3;

/// Ziggurat tables: acceptance thresholds `k` (23-bit), widths `w` and densities `f` per layer.
#[derive(Debug)]
pub struct Ziggurat {
    /// Magnitudes below `k[i]` are accepted at once in layer i.
    pub k: [u32; 256],
    /// Scale from the 23-bit magnitude to x in layer i.
    pub w: [f64; 256],
    /// exp(−x_i²/2) at the layer edges.
    pub f: [f64; 256],
}

/// Builds the tables with libm `exp`, `ln` and `sqrt` in a fixed order (the NumPy twin
/// rebuilds them with Python's `math` the same way, bit for bit).
fn build_ziggurat() -> Ziggurat {
    let m = 8_388_608.0; // 2^23
    let mut k = [0u32; 256];
    let mut w = [0.0f64; 256];
    let mut f = [0.0f64; 256];
    let mut dn = ZIGGURAT_R;
    let mut tn = dn;
    let q = ZIGGURAT_V / (-0.5 * dn * dn).exp();
    k[0] = ((dn / q) * m) as u32;
    k[1] = 0;
    w[0] = q / m;
    w[255] = dn / m;
    f[0] = 1.0;
    f[255] = (-0.5 * dn * dn).exp();
    for i in (1..=254).rev() {
        dn = (-2.0 * (ZIGGURAT_V / dn + (-0.5 * dn * dn).exp()).ln()).sqrt();
        k[i + 1] = ((dn / tn) * m) as u32;
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
    fn philox4x32_10_known_answers() {
        // Random123 1.14 tests/kat_vectors, the three "philox4x32 10" lines
        // (counter, key, expected output).
        let kat: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
            (
                [0; 4],
                [0; 2],
                [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8],
            ),
            (
                [u32::MAX; 4],
                [u32::MAX; 2],
                [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd],
            ),
            (
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0],
                [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1],
            ),
        ];
        for (ctr, key, want) in kat {
            assert_eq!(philox4x32_10(ctr, key), want);
        }
    }

    #[test]
    fn stream_words_are_the_layout() {
        // Block b of the stream at address [b0, tick, rep << 32 | row, tagword] encrypts
        // [lo(b0 + b), hi(b0 + b), row, rep] under stream_key, across the 2^32 carry; drawn
        // one word at a time, the first blocks come from scalar refills, the rest from
        // vectorised ones.
        let key = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];
        let addr = [0xFFFF_FFFE, 5, (3 << 32) | 0x11, 1 | (4 << 8)];
        let sk = stream_key(key, 5, 1 | (4 << 8));
        let mut s = Stream::with_counter(key, addr);
        for b in 0..20u64 {
            let c = addr[0] + b;
            let want = philox4x32_10([c as u32, (c >> 32) as u32, 17, 3], sk);
            for w in want {
                assert_eq!(s.next_u32(), w);
            }
        }
        assert_eq!(
            Stream::open(key, 5, 3, 17, 1, 4).next_u32(),
            Stream::with_counter(key, [0, 5, (3 << 32) | 0x11, 1 | (4 << 8)]).next_u32()
        );
        // Different ticks, tags or samples give different keys.
        assert_ne!(sk, stream_key(key, 6, 1 | (4 << 8)));
        assert_ne!(sk, stream_key(key, 5, 2 | (4 << 8)));
        assert_ne!(sk, stream_key(key, 5, 1 | (5 << 8)));
    }

    #[test]
    fn bulk_refills_draw_the_same_sequence() {
        // Across a carry, with normals (variable words per draw) and uniforms mixed.
        let addr = [u64::MAX - 5, 7, 0, 3];
        let mut a = Stream::with_counter([9, 4], addr);
        let mut b = Stream::with_counter([9, 4], addr);
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

    #[test]
    fn first_bits_are_bits_below_of_the_first_words() {
        let key = [0x0bad_cafe, 0x1234_5678];
        let mut s = Stream::open([5, 6], 0, 0, 0, 0, 0);
        for n_rows in [0usize, 1, 3, 4, 5, 17, 40] {
            let rows: Vec<u64> = (0..n_rows as u64)
                .map(|j| (j << 32) | (j * 31 + 2))
                .collect();
            let thresholds: Vec<u64> = (0..n_rows)
                .map(|j| match j % 6 {
                    0 => 0,
                    1 => 1 << 32,
                    2 => u64::MAX,
                    3 => 1 << 31,
                    _ => u64::from(s.next_u32()),
                })
                .collect();
            for bl in [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 16, 31, 32, 33, 63, 64] {
                // Each stream's own first words: the reference.
                let n_blocks = bl.div_ceil(4).max(1);
                let words: Vec<u32> = rows
                    .iter()
                    .flat_map(|&r| {
                        let mut s = Stream::with_key(key, r, 0);
                        (0..4 * n_blocks).map(move |_| s.next_u32())
                    })
                    .collect();
                for wide in [false, true] {
                    let mut got = vec![7u64; 3];
                    first_bits_width(wide, key, &rows, &thresholds, |_| bl, &mut got);
                    assert_eq!(got.len(), n_rows);
                    let trains = words.chunks_exact(4 * n_blocks).zip(&thresholds);
                    for (t, (w, &th)) in trains.enumerate() {
                        let want = bits_below(w.get(..bl).unwrap_or(w), th);
                        assert_eq!(got[t], want, "rows {n_rows}, bl {bl}, train {t}, {wide}");
                    }
                }
            }
        }
    }

    #[test]
    fn first_bits_each_takes_each_rows_length() {
        let key = [0x5eed_0001, 0x0000_beef];
        let rows: Vec<u64> = (0..23u64).map(|j| (j << 32) | (j * 7 + 1)).collect();
        let thresholds: Vec<u64> = (0..23u64).map(|j| (j * 0x0b00_0000) % (1 << 33)).collect();
        let bl = |t: usize| [31usize, 0, 1, 64, 5, 70, 8][t % 7];
        for wide in [false, true] {
            let mut got = Vec::new();
            first_bits_width(wide, key, &rows, &thresholds, bl, &mut got);
            for (t, (&r, &th)) in rows.iter().zip(&thresholds).enumerate() {
                let mut one = Vec::new();
                first_bits(key, &[r], &[th], bl(t), &mut one);
                assert_eq!(got[t], one[0], "row {t}, {wide}");
            }
            assert!(got.iter().any(|&g| g != 0));
        }
    }

    #[test]
    fn a_stream_at_a_word_continues_the_stream() {
        let key = [0x0123_4567, 0x89ab_cdef];
        for words in [0u64, 1, 3, 4, 5, 31, 32, 63, 64, 65, 130] {
            let mut a = Stream::with_key(key, 77, 0);
            for _ in 0..words {
                a.next_u32();
            }
            let mut b = stream_at_word(key, 77, words);
            for k in 0..150 {
                assert_eq!(a.next_u32(), b.next_u32(), "after {words} words, word {k}");
            }
        }
    }

    #[test]
    fn bits_below_is_the_slot_by_slot_compare() {
        let mut s = Stream::open([3, 4], 0, 0, 0, 0, 0);
        let mut words = [0u32; 70];
        for w in &mut words {
            *w = (s.uniform() * 4_294_967_296.0) as u32;
        }
        words[5] = 0;
        words[9] = u32::MAX;
        for len in 0..=70 {
            let ws = &words[..len];
            for threshold in [
                0,
                1,
                u64::from(words[3]),
                u64::from(words[3]) + 1,
                1 << 31,
                u64::from(u32::MAX),
                1 << 32,
                u64::MAX,
            ] {
                let mut want = 0u64;
                for (k, &r) in ws.iter().take(64).enumerate() {
                    want |= u64::from(u64::from(r) < threshold) << k;
                }
                assert_eq!(
                    bits_below(ws, threshold),
                    want,
                    "len {len}, threshold {threshold}"
                );
            }
        }
    }

    #[test]
    fn ceil_u64_is_the_cast_of_ceil() {
        let mut s = Stream::open([4, 4], 0, 0, 0, 0, 0);
        let mut ts = vec![
            f64::NAN,
            f64::NEG_INFINITY,
            -1.5,
            -0.5,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            0.5,
            1.0,
            1.0 + f64::EPSILON,
            4_294_967_295.5,
            4_294_967_296.0,
            2.0f64.powi(52) - 0.5,
            2.0f64.powi(52),
            2.0f64.powi(53) + 2.0,
            2.0f64.powi(64) - 2048.0,
            2.0f64.powi(64),
            2.0f64.powi(70),
            f64::INFINITY,
        ];
        // p·2³² for uniform p, and integers with their neighbours.
        for _ in 0..10_000 {
            ts.push(s.uniform() * 4_294_967_296.0);
            let k = f64::from(s.next_u32());
            ts.extend([k, k.next_down(), k.next_up()]);
        }
        for t in ts {
            assert_eq!(ceil_u64(t), t.ceil() as u64, "t {t:e}");
        }
    }

    #[test]
    fn bernoulli_threshold_is_the_uniform_compare() {
        // p at and next to representable uniforms: u < p exactly as uniform() < p.
        let ps = [
            -0.5,
            0.0,
            1e-300,
            2.0f64.powi(-32),
            1.5 * 2.0f64.powi(-32),
            0.3,
            0.5,
            0.5 + 2.0f64.powi(-40),
            1.0 - 2.0f64.powi(-32),
            1.0 - 2.0f64.powi(-53),
            1.0,
            3.0,
            f64::INFINITY,
            f64::NAN,
        ];
        for p in ps {
            // The integer test at the words next to the boundary p·2³².
            let edge = (p * 4_294_967_296.0).clamp(0.0, 4_294_967_295.0) as i64;
            for x in (edge - 2..=edge + 2).filter_map(|v| u32::try_from(v).ok()) {
                assert_eq!(
                    u64::from(x) < bernoulli_threshold(p),
                    f64::from(x) * UNIFORM_SCALE < p,
                    "p {p} x {x}"
                );
            }
            let mut a = Stream::open([1, 2], 3, 0, 0, 1, 0);
            let mut e = a.clone();
            let mut bits = [0u64; 1];
            a.bernoulli_bits(p, 50, &mut bits);
            for t in 0..50 {
                assert_eq!((bits[0] >> t) & 1 == 1, e.uniform() < p, "p {p} slot {t}");
            }
        }
    }
}
