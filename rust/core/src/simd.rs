//! Runtime CPU-feature dispatch of the hot loops (the `multiversion` crate): each kernel is
//! compiled once per target below and the best one the CPU has is picked on first call.
//!
//! Every target computes the same values bit for bit: the loops are written in scalar Rust
//! with IEEE operations only (add, sub, mul, div, compare, select, integer popcount), which
//! the vector units compute exactly as the scalar ones; Rust never contracts `a * b + c` into
//! an FMA (no `mul_add`, no fast-math), whatever the target enables. The tests at the end run
//! each target's copy against the plain (baseline) copy on the same inputs and compare bits.

use multiversion::multiversion;

use crate::family::{specialise, Family};
use crate::pulse::{snap, Pulser};
use crate::rng::bernoulli_threshold;
use crate::variation::ElemMap;

/// Declares `$name` as `$body` compiled for every dispatch target (the best the CPU has is
/// called), plus, with `$each`, the same body per single target (for the equality tests) and
/// on the baseline alone.
macro_rules! dispatched {
    (
        $(#[$meta:meta])*
        fn $name:ident / $scalar:ident / [$avx512:ident, $avx2:ident, $popcnt:ident]
            ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        #[multiversion(targets(
            "x86_64+avx512f+avx512vpopcntdq",
            "x86_64+avx2+popcnt",
            "x86_64+popcnt",
        ))]
        pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? $body

        /// The same loop compiled for the baseline target only (no dispatch).
        #[cfg(test)]
        pub(crate) fn $scalar($($arg: $ty),*) $(-> $ret)? $body

        #[cfg(test)]
        #[multiversion(targets("x86_64+avx512f+avx512vpopcntdq"))]
        pub(crate) fn $avx512($($arg: $ty),*) $(-> $ret)? $body

        #[cfg(test)]
        #[multiversion(targets("x86_64+avx2+popcnt"))]
        pub(crate) fn $avx2($($arg: $ty),*) $(-> $ret)? $body

        #[cfg(test)]
        #[multiversion(targets("x86_64+popcnt"))]
        pub(crate) fn $popcnt($($arg: $ty),*) $(-> $ret)? $body
    };
}

// The periphery's MVM kernels (periphery.rs) are declared with the same macro.
pub(crate) use dispatched;

dispatched! {
    /// Coincidences of one d train with the x trains of a block of columns
    /// (shared/theory.md §2.3(c) step 5): `out[c]` = popcount of `x[c] & d` over the train's
    /// `d.len()` words, `x` holding `d.len()` words per column. Never panics.
    fn count_coincidences / count_coincidences_scalar /
        [count_coincidences_avx512, count_coincidences_avx2, count_coincidences_popcnt]
        (x: &[u64], d: &[u64], out: &mut [u32])
    {
        if let [d0] = d {
            // One word per train (BL ≤ 64): a straight loop the compiler vectorises.
            for (o, xw) in out.iter_mut().zip(x) {
                *o = (xw & d0).count_ones();
            }
        } else if !d.is_empty() {
            for (o, xw) in out.iter_mut().zip(x.chunks_exact(d.len())) {
                *o = xw.iter().zip(d).map(|(a, b)| (a & b).count_ones()).sum();
            }
        }
    }
}

dispatched! {
    /// The tally of one row's sample when every column is listed (windows of samples):
    /// `ups[j] = signs[j] != d_pos` (the pulses' direction, −sign(x_j d_i)), `counters[j] +=
    /// ns[j]`; returns the row's pulses and its longest train. Integer operations only, in
    /// separate loops the compiler vectorises. Never panics (the shortest slice bounds all).
    fn row_tally / row_tally_scalar / [row_tally_avx512, row_tally_avx2, row_tally_popcnt]
        (ns: &[u32], signs: &[bool], d_pos: bool, ups: &mut [bool], counters: &mut [u64])
        -> (u64, u32)
    {
        let len = ns.len().min(signs.len()).min(ups.len()).min(counters.len());
        let (Some(ns), Some(signs), Some(ups), Some(counters)) = (
            ns.get(..len),
            signs.get(..len),
            ups.get_mut(..len),
            counters.get_mut(..len),
        ) else {
            return (0, 0);
        };
        for (u, &x_pos) in ups.iter_mut().zip(signs) {
            *u = x_pos != d_pos;
        }
        let mut total = 0u64;
        for (c, &n) in counters.iter_mut().zip(ns) {
            *c += u64::from(n);
            total += u64::from(n);
        }
        (total, ns.iter().copied().max().unwrap_or(0))
    }
}

dispatched! {
    /// [`count_coincidences`] and [`row_tally`] of one row's sample in one loop, for one-word
    /// trains (BL ≤ 64) with every column listed: `ns[j]` = popcount of `x[j] & d`, `ups[j] =
    /// signs[j] != d_pos`, `counters[j] += ns[j]`; returns the row's pulses and its longest
    /// train. The same values as the two calls (integer operations only); one pass and one
    /// dispatch instead of two and four loops, for least squares' rows of 20 columns, where
    /// the calls' fixed costs were most of their time. Never panics (the shortest slice bounds
    /// all).
    fn count_tally / count_tally_scalar / [count_tally_avx512, count_tally_avx2, count_tally_popcnt]
        (
            x: &[u64],
            d: u64,
            signs: &[bool],
            d_pos: bool,
            ns: &mut [u32],
            ups: &mut [bool],
            counters: &mut [u64],
        ) -> (u64, u32)
    {
        let (mut total, mut longest) = (0u64, 0u32);
        let cols = x.iter().zip(signs).zip(ns.iter_mut().zip(ups.iter_mut()).zip(counters));
        for ((&xw, &x_pos), ((n, u), c)) in cols {
            let k = (xw & d).count_ones();
            (*n, *u) = (k, x_pos != d_pos);
            *c += u64::from(k);
            total += u64::from(k);
            longest = longest.max(k);
        }
        (total, longest)
    }
}

dispatched! {
    /// Fires the rounds of a sorted set of trains held as columns of values (shared/theory.md
    /// §1.1; docs/KERNEL_SPEC.md §5): round `k` gives one pulse to each of the first
    /// `alive[k]` trains, train `l` taking its cycle noise from `normals[off[l] + k]` and
    /// moving `w[l]` by exactly [`Pulser::pulse`]'s arithmetic. `xi` is scratch of at least
    /// `w.len()` values. Never panics.
    fn fire_rounds / fire_rounds_scalar /
        [fire_rounds_avx512, fire_rounds_avx2, fire_rounds_popcnt]
        (
            pulser: &Pulser,
            w: &mut [f64],
            lo: &[f64],
            hi: &[f64],
            step: &[f64],
            up: &[bool],
            off: &[u32],
            alive: &[usize],
            normals: &[f64],
            xi: &mut [f64],
        )
    {
        let noisy = pulser.noisy();
        let gather = gathers_pay();
        specialise!(pulser.family(), f => {
            for (k, &n) in alive.iter().enumerate() {
                let (Some(w), Some(lo), Some(hi), Some(step), Some(up), Some(off), Some(xi)) = (
                    w.get_mut(..n),
                    lo.get(..n),
                    hi.get(..n),
                    step.get(..n),
                    up.get(..n),
                    off.get(..n),
                    xi.get_mut(..n),
                ) else {
                    continue;
                };
                if noisy {
                    // The gather on its own, so that the arithmetic below is a plain loop;
                    // by scalar loads where vector gathers are slower ([`gathers_pay`]).
                    if gather {
                        normals_at(xi, off, normals, k);
                    } else {
                        normals_at_loads(xi, off, normals, k);
                    }
                }
                round(pulser, f, w, lo, hi, step, up, xi);
            }
        });
    }
}

/// `xi[l] = normals[off[l] + k]` (0.0 out of range), inlined into the caller's target: vector
/// gathers on AVX2 and AVX-512.
#[inline(always)]
fn normals_at(xi: &mut [f64], off: &[u32], normals: &[f64], k: usize) {
    for (x, &o) in xi.iter_mut().zip(off) {
        *x = normals.get(o as usize + k).copied().unwrap_or(0.0);
    }
}

/// [`normals_at`] on the baseline target: scalar loads (AMD: 7% of the dense multiplicative
/// update went to these gathers).
#[inline(never)]
fn normals_at_loads(xi: &mut [f64], off: &[u32], normals: &[f64], k: usize) {
    normals_at(xi, off, normals, k);
}

/// Philox blocks computed together by [`philox_lanes`] and [`philox_nibbles`]: sixteen, two
/// vectors of eight 64-bit lanes (AVX-512) or four of four (AVX2).
pub(crate) const PHILOX_LANES: usize = 16;

/// Blocks computed together by [`philox_lanes_wide`] and [`philox_nibbles_wide`]: thirty-two,
/// four AVX-512 vectors. With two vectors in flight the rounds' multiply latency was exposed
/// on AVX-512 (the dense multiplicative update took 4% longer, a least-squares sweep 5–6%);
/// on AVX2, where sixteen lanes already fill the registers, thirty-two were slower (a
/// least-squares sweep with multiplicative noise 54 → 63–68 µs per replica-step). So the
/// width is chosen at run time ([`wide`]); it never changes a value.
pub(crate) const WIDE_LANES: usize = 32;

/// True when the wide Philox calls pay (the CPU has AVX-512F; std caches the answer).
#[inline]
pub(crate) fn wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The ten Philox4x32-10 rounds on `N` counters `c = [c0, c1, c2, c3]` (each 32-bit word in a
/// 64-bit lane, so the 32×32→64 products are one vector multiply each) under `key`; block
/// `j`'s four words go to `out[4j..4j + 4]` (`out` holds 4N words). Each lane is exactly
/// [`crate::rng::philox4x32_10`]: products, shifts, masks, xor and wrapping adds are exact
/// integer operations, so every target gives the same bits. Inlined into each dispatched copy.
#[inline(always)]
fn philox_rounds<const N: usize>(c: [[u64; N]; 4], key: [u32; 2], out: &mut [u32]) {
    let [c0, c1, c2, c3] = philox_core(c, key);
    let words = c0.iter().zip(&c1).zip(&c2).zip(&c3);
    for (o, (((a, b), c), d)) in out.chunks_exact_mut(4).zip(words) {
        o.copy_from_slice(&[*a as u32, *b as u32, *c as u32, *d as u32]);
    }
}

/// The counters of `N` consecutive blocks from `first` of the stream at `row_rep`.
#[inline(always)]
fn consecutive<const N: usize>(first: u64, row_rep: [u32; 2]) -> [[u64; N]; 4] {
    const LO: u64 = 0xFFFF_FFFF;
    let mut c0 = [0u64; N];
    let mut c1 = [0u64; N];
    for (j, (a, b)) in c0.iter_mut().zip(&mut c1).enumerate() {
        let block = first.wrapping_add(j as u64);
        (*a, *b) = (block & LO, block >> 32);
    }
    [
        c0,
        c1,
        [u64::from(row_rep[0]); N],
        [u64::from(row_rep[1]); N],
    ]
}

/// The placed nibbles of [`philox_nibbles`] for `N` lanes.
#[inline(always)]
fn nibbles<const N: usize>(
    blocks: &[u64; N],
    rows: &[u64; N],
    key: [u32; 2],
    thresholds: &[u64; N],
    out: &mut [u64; N],
) {
    let [c0, c1, c2, c3] = philox_core(gather_counters(blocks, rows), key);
    let lanes = c0.iter().zip(&c1).zip(&c2).zip(&c3).zip(thresholds);
    for ((o, &blk), ((((&a, &b), &c), &d), &t)) in out.iter_mut().zip(blocks).zip(lanes) {
        let nibble = u64::from(a < t)
            | (u64::from(b < t) << 1)
            | (u64::from(c < t) << 2)
            | (u64::from(d < t) << 3);
        *o = nibble << (4 * (blk & 15));
    }
}

/// The ten rounds of [`philox_rounds`], the result left in the lanes: word `w` of block `j`
/// is `out[w][j]` (below 2³², as every lane is masked or a xor of 32-bit values).
#[inline(always)]
fn philox_core<const N: usize>(c: [[u64; N]; 4], key: [u32; 2]) -> [[u64; N]; 4] {
    const LO: u64 = 0xFFFF_FFFF;
    let m0 = u64::from(crate::rng::PHILOX_M32_0);
    let m1 = u64::from(crate::rng::PHILOX_M32_1);
    let [mut c0, mut c1, mut c2, mut c3] = c;
    let (k0, k1) = (u64::from(key[0]), u64::from(key[1]));
    let (w0, w1) = (
        u64::from(crate::rng::PHILOX_W32_0),
        u64::from(crate::rng::PHILOX_W32_1),
    );
    // Round r's keys are the key plus r times the Weyl constants, mod 2³² (the same values as
    // adding them round by round). The ten rounds written out: as a loop they were not
    // unrolled, and each round recomputed and broadcast its keys.
    let mut round = |r: u64| {
        let (k0, k1) = ((k0 + r * w0) & LO, (k1 + r * w1) & LO);
        let lanes = c0.iter_mut().zip(&mut c1).zip(&mut c2).zip(&mut c3);
        for (((a, b), c), d) in lanes {
            // The masks tell the compiler that both factors fit in 32 bits.
            let p0 = (*a & LO) * m0;
            let p1 = (*c & LO) * m1;
            (*a, *b, *c, *d) = ((p1 >> 32) ^ *b ^ k0, p1 & LO, (p0 >> 32) ^ *d ^ k1, p0 & LO);
        }
    };
    round(0);
    round(1);
    round(2);
    round(3);
    round(4);
    round(5);
    round(6);
    round(7);
    round(8);
    round(9);
    [c0, c1, c2, c3]
}

/// The counters of `N` blocks of as many streams: lane `j` is `[lo(blocks[j]), hi(blocks[j]),
/// lo(rows[j]), hi(rows[j])]`, block `blocks[j]` of the stream at row word `rows[j]`.
#[inline(always)]
fn gather_counters<const N: usize>(blocks: &[u64; N], rows: &[u64; N]) -> [[u64; N]; 4] {
    const LO: u64 = 0xFFFF_FFFF;
    let (mut c0, mut c1) = ([0u64; N], [0u64; N]);
    let (mut c2, mut c3) = ([0u64; N], [0u64; N]);
    for (j, (&b, &r)) in blocks.iter().zip(rows).enumerate() {
        if let (Some(a0), Some(a1), Some(a2), Some(a3)) =
            (c0.get_mut(j), c1.get_mut(j), c2.get_mut(j), c3.get_mut(j))
        {
            (*a0, *a1, *a2, *a3) = (b & LO, b >> 32, r & LO, r >> 32);
        }
    }
    [c0, c1, c2, c3]
}

dispatched! {
    /// [`PHILOX_LANES`] Philox4x32-10 blocks of consecutive counters (docs/KERNEL_SPEC.md §3):
    /// lane `j` encrypts `[lo(b), hi(b), row_rep[0], row_rep[1]]` with `b = first + j` (mod
    /// 2⁶⁴) under `key` ([`philox_rounds`]). Never panics.
    fn philox_lanes / philox_lanes_scalar /
        [philox_lanes_avx512, philox_lanes_avx2, philox_lanes_popcnt]
        (first: u64, row_rep: [u32; 2], key: [u32; 2], out: &mut [u32; 4 * PHILOX_LANES])
    {
        philox_rounds(consecutive::<PHILOX_LANES>(first, row_rep), key, out);
    }
}

dispatched! {
    /// [`philox_lanes`] on [`WIDE_LANES`] blocks. Never panics.
    fn philox_lanes_wide / philox_lanes_wide_scalar /
        [philox_lanes_wide_avx512, philox_lanes_wide_avx2, philox_lanes_wide_popcnt]
        (first: u64, row_rep: [u32; 2], key: [u32; 2], out: &mut [u32; 4 * WIDE_LANES])
    {
        philox_rounds(consecutive::<WIDE_LANES>(first, row_rep), key, out);
    }
}

dispatched! {
    /// [`PHILOX_LANES`] blocks of as many streams ([`gather_counters`]), compared with a threshold
    /// per lane, the words never stored: bit `4·(blocks[j] mod 16) + w` of `out[j]` is `word w
    /// of block j < thresholds[j]` (as u64, so a threshold of 2³² or more sets every bit), and
    /// every other bit is 0: four slots of a Bernoulli train as [`crate::rng::bits_below`] sets
    /// them, already at their place in the train's word (block b holds slots 4b..4b + 4), so
    /// that a train's word is the OR of its blocks' lanes. Exact integer operations only: the
    /// same bits on every target. Never panics.
    fn philox_nibbles / philox_nibbles_scalar /
        [philox_nibbles_avx512, philox_nibbles_avx2, philox_nibbles_popcnt]
        (
            blocks: &[u64; PHILOX_LANES],
            rows: &[u64; PHILOX_LANES],
            key: [u32; 2],
            thresholds: &[u64; PHILOX_LANES],
            out: &mut [u64; PHILOX_LANES],
        )
    {
        nibbles(blocks, rows, key, thresholds, out);
    }
}

dispatched! {
    /// [`philox_nibbles`] on [`WIDE_LANES`] blocks. Never panics.
    fn philox_nibbles_wide / philox_nibbles_wide_scalar /
        [philox_nibbles_wide_avx512, philox_nibbles_wide_avx2, philox_nibbles_wide_popcnt]
        (
            blocks: &[u64; WIDE_LANES],
            rows: &[u64; WIDE_LANES],
            key: [u32; 2],
            thresholds: &[u64; WIDE_LANES],
            out: &mut [u64; WIDE_LANES],
        )
    {
        nibbles(blocks, rows, key, thresholds, out);
    }
}

/// The one-word Bernoulli trains of `NB` blocks each (BL ≤ 4·`NB`) of the streams at
/// `row_words`, `PER` = `W / NB` trains on the `W` lanes of a call: lane `b·PER + k` computes
/// block `b` of the call's train `k` ([`nibbles`]; block-major, so that a train's OR runs
/// down the lanes, vector by vector), and `out[t]` is the OR of its train's placed nibbles:
/// bit `s` set when word `s` of the stream is below `thresholds[t]`, for every slot of the
/// `NB` blocks (the caller masks the train's length). Rows beyond the shortest of the three
/// slices are not computed; a last call with fewer trains computes its empty lanes on row 0
/// and threshold 0 (never used). False (nothing done) unless `PER·NB = W`.
#[inline(always)]
fn uniform_trains<const NB: usize, const PER: usize, const W: usize>(
    (key, row_words, thresholds): ([u32; 2], &[u64], &[u64]),
    out: &mut [u64],
) -> bool {
    if NB == 0 || PER * NB != W {
        return false;
    }
    let blocks: [u64; W] = std::array::from_fn(|l| (l / PER) as u64);
    let mut placed = [0u64; W];
    let calls = row_words
        .chunks(PER)
        .zip(thresholds.chunks(PER))
        .zip(out.chunks_mut(PER));
    for ((rw, th), o) in calls {
        // The call's trains in fixed arrays (a last, shorter call padded with zeros).
        let full = (rw.first_chunk::<PER>(), th.first_chunk::<PER>());
        let (rw, th) = if let (Some(&r), Some(&t)) = full {
            (r, t)
        } else {
            let (mut r, mut t) = ([0u64; PER], [0u64; PER]);
            for ((r, t), (&rv, &tv)) in r.iter_mut().zip(&mut t).zip(rw.iter().zip(th)) {
                (*r, *t) = (rv, tv);
            }
            (r, t)
        };
        let rows: [u64; W] = std::array::from_fn(|l| rw[l % PER]);
        let ts: [u64; W] = std::array::from_fn(|l| th[l % PER]);
        nibbles::<W>(&blocks, &rows, key, &ts, &mut placed);
        let mut acc = [0u64; PER];
        for blk in placed.chunks_exact(PER) {
            for (a, &x) in acc.iter_mut().zip(blk) {
                *a |= x;
            }
        }
        // A whole call's trains stored as one array (element by element, the copy of an
        // unknown length ≤ PER had been a `memcpy` call per call).
        if let Some(o) = o.first_chunk_mut::<PER>() {
            *o = acc;
        } else {
            for (o, &a) in o.iter_mut().zip(&acc) {
                *o = a;
            }
        }
    }
    true
}

/// [`uniform_trains`] for a train length of `nb` blocks (1, 2, 4, 8 or 16) on `W` lanes
/// ([`PHILOX_LANES`] or [`WIDE_LANES`]; false for others).
#[inline(always)]
fn trains_of<const W: usize>(
    nb: usize,
    key: [u32; 2],
    row_words: &[u64],
    thresholds: &[u64],
    out: &mut [u64],
) -> bool {
    let args = (key, row_words, thresholds);
    match (W, nb) {
        (PHILOX_LANES, 1) => uniform_trains::<1, 16, W>(args, out),
        (PHILOX_LANES, 2) => uniform_trains::<2, 8, W>(args, out),
        (PHILOX_LANES, 4) => uniform_trains::<4, 4, W>(args, out),
        (PHILOX_LANES, 8) => uniform_trains::<8, 2, W>(args, out),
        (PHILOX_LANES, 16) => uniform_trains::<16, 1, W>(args, out),
        (WIDE_LANES, 1) => uniform_trains::<1, 32, W>(args, out),
        (WIDE_LANES, 2) => uniform_trains::<2, 16, W>(args, out),
        (WIDE_LANES, 4) => uniform_trains::<4, 8, W>(args, out),
        (WIDE_LANES, 8) => uniform_trains::<8, 4, W>(args, out),
        (WIDE_LANES, 16) => uniform_trains::<16, 2, W>(args, out),
        _ => false,
    }
}

dispatched! {
    /// One-word Bernoulli trains of `nb` blocks each (1, 2, 4, 8 or 16; else false and
    /// nothing done) on [`PHILOX_LANES`] lanes a call ([`uniform_trains`]): the filling of the
    /// lanes, the blocks, the compares and each train's OR in one dispatched loop over the
    /// trains. Exact integer operations only: the same bits on every target. Never panics.
    fn philox_trains / philox_trains_scalar /
        [philox_trains_avx512, philox_trains_avx2, philox_trains_popcnt]
        (nb: usize, key: [u32; 2], row_words: &[u64], thresholds: &[u64], out: &mut [u64])
        -> bool
    {
        trains_of::<PHILOX_LANES>(nb, key, row_words, thresholds, out)
    }
}

dispatched! {
    /// [`philox_trains`] on [`WIDE_LANES`] lanes a call. Never panics.
    fn philox_trains_wide / philox_trains_wide_scalar /
        [philox_trains_wide_avx512, philox_trains_wide_avx2, philox_trains_wide_popcnt]
        (nb: usize, key: [u32; 2], row_words: &[u64], thresholds: &[u64], out: &mut [u64])
        -> bool
    {
        trains_of::<WIDE_LANES>(nb, key, row_words, thresholds, out)
    }
}

/// The fast path of the ziggurat ([`crate::rng::Stream::normal`]) over a run of 32-bit words,
/// eight at a time: `out[j]` gets `±(words[j] >> 9)·w[layer]` for every word examined, and the
/// result is the index of the first word whose magnitude is not below `k[layer]` (it needs the
/// wedge or tail test), or `min(words.len(), out.len())` if there is none. Values written at
/// and after that index are to be overwritten by the caller. One IEEE multiply and an xor per
/// value: the same bits on every target and in both forms below. Never panics.
///
/// Two forms of one loop, chosen once per process by the CPU's vendor ([`gathers_pay`]): in
/// vectors with the layer tables read by gathers ([`ziggurat_gather`], runtime dispatch), or
/// on the baseline target with the tables read by scalar loads ([`ziggurat_loads`]). On an AMD
/// EPYC (Zen 5, 2026-12-07) the gathers cost 1.79 ns per normal (AVX-512; 1.20 AVX2), the
/// scalar loads 0.99 ns.
#[inline]
pub(crate) fn ziggurat_run(
    words: &[u32],
    k: &[u32; 256],
    w: &[f64; 256],
    out: &mut [f64],
) -> usize {
    if gathers_pay() {
        ziggurat_gather(words, k, w, out)
    } else {
        ziggurat_loads(words, k, w, out)
    }
}

/// True when vector gathers from a small table beat scalar loads on this CPU: every x86-64 but
/// AMD's and Hygon's (Zen, whose gathers are microcoded; measured in [`ziggurat_run`]'s doc).
/// Asked once (CPUID leaf 0, the vendor string) and cached. It picks between forms that give
/// the same bits, never a value.
pub(crate) fn gathers_pay() -> bool {
    static PAY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PAY.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let r = std::arch::x86_64::__cpuid(0);
            let mut vendor = [0u8; 12];
            for (dst, reg) in vendor.chunks_exact_mut(4).zip([r.ebx, r.edx, r.ecx]) {
                dst.copy_from_slice(&reg.to_le_bytes());
            }
            !matches!(&vendor, b"AuthenticAMD" | b"HygonGenuine")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// [`ziggurat_run`]'s loop, inlined into both forms.
#[inline(always)]
fn ziggurat_body(words: &[u32], k: &[u32; 256], w: &[f64; 256], out: &mut [f64]) -> usize {
    let n = words.len().min(out.len());
    let (Some(words), Some(out)) = (words.get(..n), out.get_mut(..n)) else {
        return 0;
    };
    let mut start = 0;
    for (wc, oc) in words.chunks(8).zip(out.chunks_mut(8)) {
        let mut rejected = 0u32;
        for (j, (o, &r)) in oc.iter_mut().zip(wc).enumerate() {
            let layer = (r & 0xff) as usize;
            let m = r >> 9;
            let x = f64::from(m) * w[layer];
            *o = f64::from_bits(x.to_bits() ^ (u64::from((r >> 8) & 1) << 63));
            rejected |= u32::from(m >= k[layer]) << j;
        }
        if rejected != 0 {
            return start + rejected.trailing_zeros() as usize;
        }
        start += wc.len();
    }
    n
}

/// [`ziggurat_body`] on the baseline target (SSE2: no gathers, the tables read by scalar
/// loads).
fn ziggurat_loads(words: &[u32], k: &[u32; 256], w: &[f64; 256], out: &mut [f64]) -> usize {
    ziggurat_body(words, k, w, out)
}

dispatched! {
    /// [`ziggurat_body`] in vectors, the tables read by gathers (runtime dispatch).
    fn ziggurat_gather / ziggurat_gather_scalar /
        [ziggurat_gather_avx512, ziggurat_gather_avx2, ziggurat_gather_popcnt]
        (words: &[u32], k: &[u32; 256], w: &[f64; 256], out: &mut [f64]) -> usize
    {
        ziggurat_body(words, k, w, out)
    }
}

/// 2⁵²: adding it to a t in [0, 2⁵¹) and subtracting it again rounds t to an integer.
const TWO_52: f64 = 4_503_599_627_370_496.0;

dispatched! {
    /// `out[j]` = `bernoulli_threshold(snap(b·|x[j]|))` for every j (the trains' thresholds,
    /// rng.rs), in vectors: with p = snap(b·|x|) and t = p·2³², for 0 ≤ t < 2⁵¹ the nearest
    /// integer r = (t + 2⁵²) − 2⁵² (both exact), the ceiling c = r + (r < t), and c itself is
    /// the bit pattern of c + 2⁵² less that of 2⁵². Every other t (NaN, or 2⁵¹ and above) goes
    /// through `bernoulli_threshold` itself. IEEE adds, subtractions, multiplies and compares only: every target
    /// gives the bits of the scalar form (tested). Never panics.
    fn bernoulli_thresholds / bernoulli_thresholds_scalar /
        [bernoulli_thresholds_avx512, bernoulli_thresholds_avx2, bernoulli_thresholds_popcnt]
        (x: &[f64], b: f64, out: &mut [u64])
    {
        let mut any_far = false;
        for (o, &xv) in out.iter_mut().zip(x) {
            let p = snap(b * xv.abs());
            let t = p * 4_294_967_296.0;
            let r = (t + TWO_52) - TWO_52;
            let c = if r < t { r + 1.0 } else { r };
            let near = (0.0..0.5 * TWO_52).contains(&t);
            *o = if near {
                (c + TWO_52).to_bits().wrapping_sub(TWO_52.to_bits())
            } else {
                0
            };
            any_far |= !near;
        }
        if any_far {
            for (o, &xv) in out.iter_mut().zip(x) {
                let p = snap(b * xv.abs());
                if !(0.0..0.5 * TWO_52).contains(&(p * 4_294_967_296.0)) {
                    *o = bernoulli_threshold(p);
                }
            }
        }
    }
}

/// Samples per call of [`sample_scales`].
pub(crate) const SCALE_LANES: usize = 64;

/// The update-management rule of [`sample_scales`]: the desired bit length (as f64), whether
/// the bit length follows the sample (`bl_management`) or is `fixed`, whether the trains'
/// scales are balanced (`um`), and the longest free train (`cap`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct UmMode {
    pub desired_bl: f64,
    pub bl_management: bool,
    pub fixed: bool,
    pub um: bool,
    pub cap: f64,
}

dispatched! {
    /// A block of samples' bit lengths and train scales (KERNEL_SPEC §3, `stochastic.rs`'s
    /// `SampleTrains`): from each sample's max |x| `xm[k]` and max |d| (times the gradient
    /// scale) `dm[k]`, with `(lr, dw_min)`, `out[0][k]` = its bit length, `out[1][k]` = its d
    /// trains' scale A and `out[2][k]` = its x trains' scale B. Lane by lane the scalar chain
    /// (k = lr·x_m·d_m/dw_min; BL and the base scale by the rule; with update management
    /// A·√(x_m/d₂), B·√(d₂/x_m) for d₂ = d_m·min(BL_des/k, 1)): IEEE multiplies, divisions,
    /// square roots and compares only, no FMA, so every target gives the same bits. Samples
    /// with lr, x_m or d_m zero are the caller's to skip (their lanes hold what the chain
    /// gives). Never panics.
    fn sample_scales / sample_scales_scalar /
        [sample_scales_avx512, sample_scales_avx2, sample_scales_popcnt]
        (
            xm: &[f64; SCALE_LANES],
            dm: &[f64; SCALE_LANES],
            lr_dw: (f64, f64),
            mode: UmMode,
            out: &mut [[f64; SCALE_LANES]; 3],
        )
    {
        let (lr, dw_min) = lr_dw;
        let dbl = mode.desired_bl;
        let [bls, a_s, bs_s] = out;
        for k in 0..SCALE_LANES {
            let (x_m, d_m) = (xm[k], dm[k]);
            let kk = lr * x_m * d_m / dw_min;
            let (bl, mut a, mut bs) = if mode.bl_management {
                let bl = kk.ceil().min(dbl).max(1.0);
                let s = (lr / (dw_min * bl)).sqrt();
                (bl, s, s)
            } else if mode.fixed || dw_min * dbl >= lr {
                let s = (lr / (dw_min * dbl)).sqrt();
                (dbl, s, s)
            } else {
                // `f64::clamp(1.0, cap)`'s steps, without its check that 1 ≤ cap.
                let c = (lr / dw_min).ceil();
                let c = if c < 1.0 { 1.0 } else { c };
                let c = if c > mode.cap { mode.cap } else { c };
                (c, 1.0, 1.0)
            };
            if mode.um {
                let d2 = d_m * (dbl / kk).min(1.0);
                a *= (x_m / d2).sqrt();
                bs *= (d2 / x_m).sqrt();
            }
            bls[k] = bl;
            a_s[k] = a;
            bs_s[k] = bs;
        }
    }
}

/// Elements per call of [`Family::symmetric_points_lanes`] in [`symmetric_points`].
const SP_LANES: usize = 32;

dispatched! {
    /// `out[j]` = `f.symmetric_point(lo, hi, up, dn)` of `maps[j]`, bit for bit
    /// ([`Family::symmetric_point`]; NaN for `Ideal`), [`SP_LANES`] elements at a time
    /// ([`Family::symmetric_points_lanes`]), the family's constants folded; a last, short block
    /// is padded with copies of its first element. Never panics.
    fn symmetric_points / symmetric_points_scalar /
        [symmetric_points_avx512, symmetric_points_avx2, symmetric_points_popcnt]
        (f: Family, maps: &[ElemMap], out: &mut [f64])
    {
        if !f.has_symmetric_point() {
            out.fill(f64::NAN);
            return;
        }
        specialise!(f, f => {
            for (os, ms) in out.chunks_mut(SP_LANES).zip(maps.chunks(SP_LANES)) {
                let Some(first) = ms.first() else { continue };
                let (mut lo, mut hi) = ([first.lo; SP_LANES], [first.hi; SP_LANES]);
                let (mut up, mut dn) = ([first.up; SP_LANES], [first.dn; SP_LANES]);
                for (k, m) in ms.iter().enumerate() {
                    (lo[k], hi[k], up[k], dn[k]) = (m.lo, m.hi, m.up, m.dn);
                }
                let sp = f.symmetric_points_lanes(&lo, &hi, &up, &dn);
                for (o, s) in os.iter_mut().zip(sp) {
                    *o = s;
                }
            }
        });
    }
}

/// One pulse on each of `w`'s elements ([`Pulser::pulse_parts`]), in a loop without
/// branches or indexing so that it vectorises.
#[inline(always)]
fn round(
    pulser: &Pulser,
    f: Family,
    w: &mut [f64],
    lo: &[f64],
    hi: &[f64],
    step: &[f64],
    up: &[bool],
    xi: &[f64],
) {
    let lanes = w.iter_mut().zip(lo).zip(hi).zip(step).zip(up).zip(xi);
    for (((((w, &lo), &hi), &step), &up), &xi) in lanes {
        *w = pulser.pulse_parts(f, *w, lo, hi, step, up, xi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;
    use crate::spec::{C2cMode, DeviceSpec};

    fn words(s: &mut Stream, n: usize) -> Vec<u64> {
        (0..n)
            .map(|k| match k % 5 {
                0 => 0,
                1 => u64::MAX,
                _ => s.next_u64(),
            })
            .collect()
    }

    #[test]
    fn every_target_counts_the_same_coincidences() {
        let mut s = Stream::open([3, 5], 1, 0, 0, 0, 0);
        for n_words in 1..=4 {
            // Odd widths and remainders of every vector length.
            for cols in [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1023] {
                let x = words(&mut s, cols * n_words);
                let d = words(&mut s, n_words);
                let want: Vec<u32> = x
                    .chunks_exact(n_words)
                    .map(|c| c.iter().zip(&d).map(|(a, b)| (a & b).count_ones()).sum())
                    .collect();
                let mut got = [vec![0u32; cols], vec![0; cols], vec![0; cols]];
                let mut got2 = [vec![0u32; cols], vec![0; cols]];
                count_coincidences(&x, &d, &mut got[0]);
                count_coincidences_scalar(&x, &d, &mut got[1]);
                count_coincidences_avx512(&x, &d, &mut got[2]);
                count_coincidences_avx2(&x, &d, &mut got2[0]);
                count_coincidences_popcnt(&x, &d, &mut got2[1]);
                for g in got.iter().chain(&got2) {
                    assert_eq!(g, &want, "{n_words} words, {cols} columns");
                }
            }
        }
    }

    #[test]
    fn every_target_tallies_a_row_the_same() {
        type Tally = fn(&[u32], &[bool], bool, &mut [bool], &mut [u64]) -> (u64, u32);
        let mut s = Stream::open([3, 6], 1, 0, 0, 0, 0);
        let targets: [Tally; 5] = [
            row_tally,
            row_tally_scalar,
            row_tally_avx512,
            row_tally_avx2,
            row_tally_popcnt,
        ];
        for cols in [0usize, 1, 7, 8, 9, 17, 33, 512, 1023] {
            let ns: Vec<u32> = (0..cols).map(|_| (s.uniform() * 32.0) as u32).collect();
            let signs: Vec<bool> = (0..cols).map(|_| s.uniform() < 0.5).collect();
            let start: Vec<u64> = (0..cols).map(|_| (s.uniform() * 1e6) as u64).collect();
            for d_pos in [false, true] {
                let want_ups: Vec<bool> = signs.iter().map(|&x| x != d_pos).collect();
                let want_c: Vec<u64> = start
                    .iter()
                    .zip(&ns)
                    .map(|(c, &n)| c + u64::from(n))
                    .collect();
                let want = (
                    ns.iter().map(|&n| u64::from(n)).sum::<u64>(),
                    ns.iter().copied().max().unwrap_or(0),
                );
                for f in targets {
                    let (mut ups, mut c) = (vec![false; cols], start.clone());
                    assert_eq!(f(&ns, &signs, d_pos, &mut ups, &mut c), want, "{cols}");
                    assert_eq!((ups, c), (want_ups.clone(), want_c.clone()), "{cols}");
                }
            }
        }
    }

    #[test]
    fn every_target_counts_and_tallies_a_row_as_the_two_calls() {
        type CountTally =
            fn(&[u64], u64, &[bool], bool, &mut [u32], &mut [bool], &mut [u64]) -> (u64, u32);
        let mut s = Stream::open([5, 8], 2, 0, 0, 0, 0);
        let targets: [CountTally; 5] = [
            count_tally,
            count_tally_scalar,
            count_tally_avx512,
            count_tally_avx2,
            count_tally_popcnt,
        ];
        for cols in [0usize, 1, 7, 8, 9, 20, 33, 512, 1023] {
            let x: Vec<u64> = (0..cols)
                .map(|_| s.next_u64() & (u64::MAX >> (s.next_u32() % 64)))
                .collect();
            let signs: Vec<bool> = (0..cols).map(|_| s.uniform() < 0.5).collect();
            let start: Vec<u64> = (0..cols).map(|_| (s.uniform() * 1e6) as u64).collect();
            for (d, d_pos) in [(s.next_u64(), false), (s.next_u64() >> 20, true), (0, true)] {
                let mut want_ns = vec![0u32; cols];
                count_coincidences_scalar(&x, &[d], &mut want_ns);
                let (mut want_ups, mut want_c) = (vec![false; cols], start.clone());
                let want = row_tally_scalar(&want_ns, &signs, d_pos, &mut want_ups, &mut want_c);
                if cols >= 20 && d != 0 {
                    assert!(want.0 > 0 && want_ns.iter().any(|&n| n != want.1));
                }
                for f in targets {
                    let (mut ns, mut ups, mut c) =
                        (vec![7u32; cols], vec![false; cols], start.clone());
                    assert_eq!(
                        f(&x, d, &signs, d_pos, &mut ns, &mut ups, &mut c),
                        want,
                        "{cols}"
                    );
                    assert_eq!(
                        (ns, ups, c),
                        (want_ns.clone(), want_ups.clone(), want_c.clone()),
                        "{cols}"
                    );
                }
            }
        }
    }

    type Fire = fn(
        &Pulser,
        &mut [f64],
        &[f64],
        &[f64],
        &[f64],
        &[bool],
        &[u32],
        &[usize],
        &[f64],
        &mut [f64],
    );

    fn device(family: Family, c2c: C2cMode, sigma: f64) -> DeviceSpec {
        DeviceSpec {
            family,
            lo: -1.0,
            hi: 1.0,
            dw_min: 1e-3,
            dw_min_std: sigma,
            c2c,
            dw_min_dtod: 0.3,
            dw_min_dtod_log_normal: false,
            up_down: 0.0,
            up_down_dtod: 0.01,
            w_max_dtod: 0.3,
            w_min_dtod: 0.3,
            reference_mean: 0.0,
            reference_std: 0.0,
            subtract_symmetry_point: false,
        }
    }

    #[test]
    fn every_target_fires_the_same_bits() {
        let families = [
            Family::Ideal,
            Family::LinearStep { sp: 0.2 },
            Family::SkewLinear { c: 0.3 },
            Family::SoftBounds {
                alpha_up: 1.1,
                alpha_down: 0.9,
            },
            Family::Power {
                gamma_up: 0.5,
                gamma_down: 2.0,
            },
            Family::Exponential {
                gamma_up: 3.0,
                gamma_down: 1.5,
            },
            Family::PowerStep {
                gamma_up: 0.7,
                gamma_down: 1.3,
            },
            Family::ExpStep {
                gamma_up: 2.0,
                gamma_down: 4.0,
            },
        ];
        let mut s = Stream::open([11, 13], 2, 0, 0, 0, 0);
        for (fi, fam) in families.into_iter().enumerate() {
            for (c2c, sigma) in [
                (C2cMode::Multiplicative, 0.3),
                (C2cMode::Additive, 0.3),
                (C2cMode::Multiplicative, 0.0),
            ] {
                let pulser = Pulser::new(&device(fam, c2c, sigma));
                for n in [1, 2, 7, 8, 9, 17, 64, 333] {
                    // Large steps (up to 0.4) so that many pulses hit a bound, some from
                    // exactly the bound; trains sorted by decreasing length.
                    let lo: Vec<f64> = (0..n).map(|_| -0.5 - 0.5 * s.uniform()).collect();
                    let hi: Vec<f64> = (0..n).map(|_| 0.5 + 0.5 * s.uniform()).collect();
                    let w: Vec<f64> = (0..n)
                        .map(|l| match l % 4 {
                            0 => lo[l],
                            1 => hi[l],
                            _ => lo[l] + (hi[l] - lo[l]) * s.uniform(),
                        })
                        .collect();
                    let step: Vec<f64> = (0..n).map(|_| 0.4 * s.uniform()).collect();
                    let up: Vec<bool> = (0..n).map(|_| s.uniform() < 0.5).collect();
                    let mut lens: Vec<u32> =
                        (0..n).map(|_| 1 + (s.next_u64() % 9) as u32).collect();
                    lens.sort_unstable_by(|a, b| b.cmp(a));
                    let mut off = Vec::with_capacity(n);
                    let mut total = 0;
                    for &l in &lens {
                        off.push(total);
                        total += l;
                    }
                    let alive: Vec<usize> = (0..lens[0])
                        .map(|k| lens.iter().filter(|&&l| l > k).count())
                        .collect();
                    let mut normals = vec![0.0; total as usize];
                    s.fill_normals(&mut normals);
                    // The reference: Pulser::pulse one element at a time.
                    let mut want = w.clone();
                    for l in 0..n {
                        let m = crate::variation::ElemMap {
                            lo: lo[l],
                            hi: hi[l],
                            up: step[l],
                            dn: step[l],
                        };
                        for k in 0..lens[l] {
                            let xi = normals[(off[l] + k) as usize];
                            want[l] = pulser.pulse(fam, want[l], &m, up[l], xi);
                        }
                    }
                    let fires: [(&str, Fire); 5] = [
                        ("dispatched", fire_rounds),
                        ("scalar", fire_rounds_scalar),
                        ("avx512", fire_rounds_avx512),
                        ("avx2", fire_rounds_avx2),
                        ("popcnt", fire_rounds_popcnt),
                    ];
                    for (name, fire) in fires {
                        let mut got = w.clone();
                        let mut xi = vec![0.0; n];
                        fire(
                            &pulser, &mut got, &lo, &hi, &step, &up, &off, &alive, &normals,
                            &mut xi,
                        );
                        let gb: Vec<u64> = got.iter().map(|v| v.to_bits()).collect();
                        let wb: Vec<u64> = want.iter().map(|v| v.to_bits()).collect();
                        assert_eq!(gb, wb, "{name}: family {fi}, {c2c:?}, n {n}");
                        assert!(got.iter().all(|v| v.is_finite()));
                    }
                }
            }
        }
    }

    type Lanes<const W: usize> = fn(u64, [u32; 2], [u32; 2], &mut [u32; W]);

    /// `fs[0]` is the baseline copy; every block must be `philox4x32_10` of its counter and
    /// every other copy must give the same words. Counters across the 2^32 carry of the
    /// block word and at the 2^64 wrap.
    fn same_philox_blocks<const W: usize>(fs: &[(&str, Lanes<W>)]) {
        for (first, row_rep, key) in [
            (0u64, [0u32, 0u32], [0u32, 0u32]),
            (0xFFFF_FFFC, [7, 9], [0xDEAD_BEEF, 0x1234_5678]),
            (u64::MAX - 3, [u32::MAX, u32::MAX], [u32::MAX, u32::MAX]),
            (
                0x0123_4567_89AB_CDEF,
                [0x243f_6a88, 0x85a3_08d3],
                [0xa409_3822, 0x299f_31d0],
            ),
        ] {
            let mut want = [0u32; W];
            fs[0].1(first, row_rep, key, &mut want);
            for (j, block) in want.chunks_exact(4).enumerate() {
                let b = first.wrapping_add(j as u64);
                let one = crate::rng::philox4x32_10(
                    [b as u32, (b >> 32) as u32, row_rep[0], row_rep[1]],
                    key,
                );
                assert_eq!(block, one, "lane {j}");
            }
            for (name, f) in fs {
                let mut got = [0u32; W];
                f(first, row_rep, key, &mut got);
                assert_eq!(got, want, "{name}");
            }
        }
    }

    #[test]
    fn every_target_computes_the_same_philox_blocks() {
        same_philox_blocks::<{ 4 * PHILOX_LANES }>(&[
            ("scalar", philox_lanes_scalar),
            ("dispatched", philox_lanes),
            ("avx512", philox_lanes_avx512),
            ("avx2", philox_lanes_avx2),
            ("popcnt", philox_lanes_popcnt),
        ]);
    }

    #[test]
    fn every_target_computes_the_same_wide_philox_blocks() {
        same_philox_blocks::<{ 4 * WIDE_LANES }>(&[
            ("scalar", philox_lanes_wide_scalar),
            ("dispatched", philox_lanes_wide),
            ("avx512", philox_lanes_wide_avx512),
            ("avx2", philox_lanes_wide_avx2),
            ("popcnt", philox_lanes_wide_popcnt),
        ]);
    }

    type Nibbles<const N: usize> = fn(&[u64; N], &[u64; N], [u32; 2], &[u64; N], &mut [u64; N]);

    /// Every copy in `fs` must give each lane's nibble of compares of its block's words (from
    /// `philox4x32_10`) with thresholds at and just above the words, and the extremes, at bit
    /// 4·(block mod 16).
    fn same_nibbles<const N: usize>(fs: &[(&str, Nibbles<N>)]) {
        let key = [0x1357_9bdf, 0x2468_ace0];
        let blocks: [u64; N] = std::array::from_fn(|j| [0, 1, 7, 0xFFFF_FFFF, u64::MAX][j % 5]);
        let rows: [u64; N] = std::array::from_fn(|j| ((j as u64) << 32) | (j as u64 * 89));
        let words: Vec<[u32; 4]> = blocks
            .iter()
            .zip(&rows)
            .map(|(&b, &r)| {
                crate::rng::philox4x32_10(
                    [b as u32, (b >> 32) as u32, r as u32, (r >> 32) as u32],
                    key,
                )
            })
            .collect();
        // Per lane one word c = j % 4 at the threshold (not below it), one just below, or an
        // extreme: every word position is tested at equality.
        let thresholds: [u64; N] = std::array::from_fn(|j| {
            let x = u64::from(words[j][j % 4]);
            match (j / 4) % 3 {
                0 => x,
                1 => x + 1,
                _ => [0, 1 << 32, u64::MAX, 1 << 31][j % 4],
            }
        });
        let mut want = [0u64; N];
        for (((w, ws), &t), &b) in want.iter_mut().zip(&words).zip(&thresholds).zip(&blocks) {
            for (c, &x) in ws.iter().enumerate() {
                *w |= u64::from(u64::from(x) < t) << (c as u64 + 4 * (b % 16));
            }
        }
        let nib = |j: usize| want[j] >> (4 * (blocks[j] % 16));
        assert!(
            (0..N).any(|j| nib(j) != 0 && nib(j) != 15),
            "the test needs mixed nibbles"
        );
        assert!(
            (0..N).any(|j| nib(j) != 0 && blocks[j] % 16 == 15),
            "the test needs a nibble at the top of the word"
        );
        for (name, f) in fs {
            let mut got = [0u64; N];
            f(&blocks, &rows, key, &thresholds, &mut got);
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn every_target_compares_the_same_gathered_blocks() {
        same_nibbles::<PHILOX_LANES>(&[
            ("dispatched", philox_nibbles),
            ("scalar", philox_nibbles_scalar),
            ("avx512", philox_nibbles_avx512),
            ("avx2", philox_nibbles_avx2),
            ("popcnt", philox_nibbles_popcnt),
        ]);
    }

    #[test]
    fn every_target_compares_the_same_wide_gathered_blocks() {
        same_nibbles::<WIDE_LANES>(&[
            ("dispatched", philox_nibbles_wide),
            ("scalar", philox_nibbles_wide_scalar),
            ("avx512", philox_nibbles_wide_avx512),
            ("avx2", philox_nibbles_wide_avx2),
            ("popcnt", philox_nibbles_wide_popcnt),
        ]);
    }

    type Trains = fn(usize, [u32; 2], &[u64], &[u64], &mut [u64]) -> bool;

    /// Every copy in `fs` must give, for trains of 1, 2, 4, 8 and 16 blocks and counts of
    /// trains that fill the calls' lanes or leave a last call part-filled, each train's bit s
    /// set exactly when word s of its stream (block s / 4 of `philox4x32_10`) is below its
    /// threshold, with thresholds at and just above the words and the extremes; and refuse
    /// other lengths.
    fn same_trains(fs: &[(&str, Trains)]) {
        let key = [0x0bad_f00d, 0x7e57_ab1e];
        for nb in [1usize, 2, 4, 8, 16] {
            for n in [0usize, 1, 3, 4, 5, 17, 33, 70] {
                let rows: Vec<u64> = (0..n as u64)
                    .map(|t| (t << 40) ^ (t * 0x9e37_79b9) ^ 0x5555)
                    .collect();
                let word = |t: usize, s: usize| {
                    let (b, r) = ((s / 4) as u64, rows[t]);
                    crate::rng::philox4x32_10(
                        [b as u32, (b >> 32) as u32, r as u32, (r >> 32) as u32],
                        key,
                    )[s % 4]
                };
                let thresholds: Vec<u64> = (0..n)
                    .map(|t| {
                        let x = u64::from(word(t, (3 * t) % (4 * nb)));
                        match t % 5 {
                            0 => x,
                            1 => x + 1,
                            2 => [0, 1 << 32, u64::MAX][t % 3],
                            3 => 1 << 31,
                            _ => x / 3,
                        }
                    })
                    .collect();
                let want: Vec<u64> = (0..n)
                    .map(|t| {
                        (0..4 * nb).fold(0u64, |a, s| {
                            a | (u64::from(u64::from(word(t, s)) < thresholds[t]) << s)
                        })
                    })
                    .collect();
                if n >= 17 {
                    let mixed = want
                        .iter()
                        .filter(|&&w| w != 0 && w.count_ones() < 4 * nb as u32)
                        .count();
                    assert!(mixed > n / 4, "the test needs mixed trains");
                }
                for (name, f) in fs {
                    let mut got = vec![0u64; n];
                    assert!(f(nb, key, &rows, &thresholds, &mut got), "{name}");
                    assert_eq!(got, want, "{name}, {nb} blocks, {n} trains");
                }
            }
        }
        for (name, f) in fs {
            assert!(!f(3, key, &[1], &[1], &mut [0]), "{name}");
        }
    }

    #[test]
    fn every_target_gives_the_same_uniform_trains() {
        same_trains(&[
            ("dispatched", philox_trains),
            ("scalar", philox_trains_scalar),
            ("avx512", philox_trains_avx512),
            ("avx2", philox_trains_avx2),
            ("popcnt", philox_trains_popcnt),
        ]);
        same_trains(&[
            ("dispatched", philox_trains_wide),
            ("scalar", philox_trains_wide_scalar),
            ("avx512", philox_trains_wide_avx512),
            ("avx2", philox_trains_wide_avx2),
            ("popcnt", philox_trains_wide_popcnt),
        ]);
    }

    #[test]
    fn every_target_computes_the_scalar_thresholds() {
        type Ths = fn(&[f64], f64, &mut [u64]);
        let mut s = Stream::open([31, 32], 5, 0, 0, 0, 0);
        let eps = f64::EPSILON;
        // Edges: zero, subnormal, tiny, exact multiples of 2⁻³², just below and at 1 − 4ε
        // (snap), 1, above 1, the fast range's end (t = 2⁵¹), huge, infinite and NaN.
        let mut xs = vec![
            0.0,
            -0.0,
            5e-324,
            1e-300,
            1e-10,
            0.25,
            0.5,
            2f64.powi(-32),
            3.0 * 2f64.powi(-32),
            1.0 - 5.0 * eps,
            1.0 - 4.0 * eps,
            1.0,
            1.5,
            -2.0,
            2f64.powi(19),
            2f64.powi(19) * (1.0 - eps),
            2f64.powi(19) * (1.0 + 2.0 * eps),
            1e300,
            f64::INFINITY,
            f64::NAN,
        ];
        xs.extend((0..500).map(|_| (2.0 * s.uniform() - 1.0) * 3.0));
        for b in [1.0, 0.37, 1e-3, 7.5, 0.0] {
            let want: Vec<u64> = xs
                .iter()
                .map(|&x| crate::rng::bernoulli_threshold(snap(b * x.abs())))
                .collect();
            for (name, f) in [
                ("dispatched", bernoulli_thresholds as Ths),
                ("scalar", bernoulli_thresholds_scalar),
                ("avx512", bernoulli_thresholds_avx512),
                ("avx2", bernoulli_thresholds_avx2),
                ("popcnt", bernoulli_thresholds_popcnt),
            ] {
                for n in [0, 1, 7, 8, 9, 20, xs.len()] {
                    let mut got = vec![u64::MAX; n];
                    f(&xs[..n], b, &mut got);
                    assert_eq!(got, want[..n], "{name}, b {b}, n {n}");
                }
            }
        }
    }

    #[test]
    fn every_target_gives_the_sample_scales_of_the_scalar_chain() {
        // Against the chain as `sample_trains` wrote it one sample at a time (f64::clamp
        // included), for every rule: BL management, fixed BL, the free BL (lr above
        // dw_min·BL_des), with and without update management; maxima from 2⁻⁶⁰ to 2⁶⁰, ties
        // of k with BL_des, and a block whose last lanes are zero. Lanes of zero maxima are
        // skipped by the caller, so only the others are compared.
        type Scales = fn(&[f64; 64], &[f64; 64], (f64, f64), UmMode, &mut [[f64; 64]; 3]);
        let reference = |x_m: f64, d_m: f64, lr: f64, dw_min: f64, m: UmMode| {
            let k = lr * x_m * d_m / dw_min;
            let dbl = m.desired_bl;
            let (bl, mut a, mut bs) = if m.bl_management {
                let bl = k.ceil().min(dbl).max(1.0);
                let s = (lr / (dw_min * bl)).sqrt();
                (bl, s, s)
            } else if m.fixed || dw_min * dbl >= lr {
                let s = (lr / (dw_min * dbl)).sqrt();
                (dbl, s, s)
            } else {
                ((lr / dw_min).ceil().clamp(1.0, m.cap), 1.0, 1.0)
            };
            if m.um {
                let d2 = d_m * (dbl / k).min(1.0);
                a *= (x_m / d2).sqrt();
                bs *= (d2 / x_m).sqrt();
            }
            [bl, a, bs]
        };
        let mut s = Stream::open([31, 37], 2, 0, 0, 0, 0);
        for (lr, dw_min) in [
            (0.01, 1e-3),
            (0.1, 1e-3),
            (1.0, 1e-3),
            (0.5, 0.25),
            (3e-7, 1e-3),
        ] {
            for (bl_management, fixed, um) in [
                (false, false, true),
                (false, false, false),
                (false, true, true),
                (true, false, true),
                (true, false, false),
            ] {
                for desired_bl in [1.0, 7.0, 31.0, 100.0] {
                    let mode = UmMode {
                        desired_bl,
                        bl_management,
                        fixed,
                        um,
                        cap: 1000.0,
                    };
                    let mut xm = [0.0; 64];
                    let mut dm = [0.0; 64];
                    for k in 0..60 {
                        let e = (s.uniform() * 120.0 - 60.0).round();
                        xm[k] = 2f64.powf(e) * (0.5 + s.uniform());
                        dm[k] = if k % 9 == 4 {
                            // k = BL_des exactly.
                            desired_bl * dw_min / (lr * xm[k])
                        } else {
                            2f64.powf(-e / 2.0) * (0.5 + s.uniform())
                        };
                    }
                    let want: Vec<[f64; 3]> = (0..60)
                        .map(|k| reference(xm[k], dm[k], lr, dw_min, mode))
                        .collect();
                    for (name, f) in [
                        ("dispatched", sample_scales as Scales),
                        ("scalar", sample_scales_scalar),
                        ("avx512", sample_scales_avx512),
                        ("avx2", sample_scales_avx2),
                        ("popcnt", sample_scales_popcnt),
                    ] {
                        let mut out = [[f64::NAN; 64]; 3];
                        f(&xm, &dm, (lr, dw_min), mode, &mut out);
                        for (k, w) in want.iter().enumerate() {
                            let got = [out[0][k], out[1][k], out[2][k]];
                            assert_eq!(
                                got.map(f64::to_bits),
                                w.map(f64::to_bits),
                                "{name}, lane {k}, lr {lr}, mode {mode:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_target_runs_the_same_ziggurat() {
        type Run = fn(&[u32], &[u32; 256], &[f64; 256], &mut [f64]) -> usize;
        let z = crate::rng::ziggurat();
        let mut s = Stream::open([21, 22], 4, 0, 0, 0, 0);
        for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 64, 100, 257] {
            for _ in 0..20 {
                // Words that pass and words that fail (layer 0 and the wedges) mixed in.
                let words: Vec<u32> = (0..n)
                    .map(|j| match j % 23 {
                        5 => 0xFFFF_FF00,
                        11 => (s.next_u32() & !0xff) | 7,
                        _ => s.next_u32(),
                    })
                    .collect();
                let mut want = vec![0.0; n];
                let a = ziggurat_gather_scalar(&words, &z.k, &z.w, &mut want);
                // The reference: word by word.
                let first = words
                    .iter()
                    .position(|&r| (r >> 9) >= z.k[(r & 0xff) as usize]);
                assert_eq!(a, first.unwrap_or(n));
                for (j, &r) in words.iter().take(a).enumerate() {
                    let x = f64::from(r >> 9) * z.w[(r & 0xff) as usize];
                    let v = if (r >> 8) & 1 == 1 { -x } else { x };
                    assert_eq!(want[j].to_bits(), v.to_bits());
                }
                for (name, f) in [
                    ("chosen", ziggurat_run as Run),
                    ("loads", ziggurat_loads),
                    ("dispatched", ziggurat_gather),
                    ("avx512", ziggurat_gather_avx512),
                    ("avx2", ziggurat_gather_avx2),
                    ("popcnt", ziggurat_gather_popcnt),
                ] {
                    let mut got = vec![0.0; n];
                    assert_eq!(f(&words, &z.k, &z.w, &mut got), a, "{name}");
                    let same = got
                        .iter()
                        .zip(&want)
                        .take(a)
                        .all(|(g, w)| g.to_bits() == w.to_bits());
                    assert!(same, "{name}");
                }
            }
        }
    }

    /// Maps for the symmetric-point tests: drawn as tiles draw them (spreads of the gain, the
    /// up/down imbalance and the bounds), then raw ones: bounds anywhere around 0 (or away from
    /// it), steps over decades, up/down ratios from 1e-3 to 1e3 (roots at or near a bound).
    fn sp_maps(family: Family, s: &mut Stream, n: usize) -> Vec<ElemMap> {
        let mut d = device(family, C2cMode::Additive, 0.0);
        (d.up_down, d.up_down_dtod, d.dw_min_dtod_log_normal) = (0.1, 0.3, true);
        let mut rf = 0.0;
        (0..n)
            .map(|j| match j % 3 {
                0 => crate::variation::draw_map(&d, s, &mut rf),
                1 => {
                    let lo = -(0.05 + 3.0 * s.uniform());
                    let hi = 0.05 + 3.0 * s.uniform();
                    let up = 10f64.powf(-4.0 + 3.0 * s.uniform());
                    let dn = up * 10f64.powf(6.0 * s.uniform() - 3.0);
                    ElemMap { lo, hi, up, dn }
                }
                _ => {
                    // Equal steps (the root at the nominal SP, 0 for most families) or bounds
                    // off centre.
                    let shift = [0.0, 0.5, -0.7][(s.next_u32() % 3) as usize];
                    let up = 10f64.powf(-3.0 + 2.0 * s.uniform());
                    ElemMap {
                        lo: shift - 0.1 - s.uniform(),
                        hi: shift + 0.1 + s.uniform(),
                        up,
                        dn: if j % 2 == 0 { up } else { 1.5 * up },
                    }
                }
            })
            .collect()
    }

    #[test]
    fn every_target_finds_the_scalar_symmetric_points() {
        type Sp = fn(Family, &[ElemMap], &mut [f64]);
        let families = [
            Family::Ideal,
            Family::LinearStep { sp: 0.2 },
            Family::LinearStep { sp: 0.0 },
            Family::SkewLinear { c: 0.3 },
            Family::SkewLinear { c: -0.9 },
            Family::SoftBounds {
                alpha_up: 1.1,
                alpha_down: 0.9,
            },
            Family::SoftBounds {
                alpha_up: 1.0,
                alpha_down: 1.0,
            },
            Family::Power {
                gamma_up: 0.5,
                gamma_down: 2.0,
            },
            Family::Power {
                gamma_up: 3.0,
                gamma_down: 3.0,
            },
            Family::Exponential {
                gamma_up: 3.0,
                gamma_down: 1.5,
            },
            Family::PowerStep {
                gamma_up: 1.0,
                gamma_down: 2.0,
            },
            Family::ExpStep {
                gamma_up: 2.0,
                gamma_down: 1.0,
            },
            Family::piecewise(&[1.6, 1.3, 0.9, 0.6, 0.1], &[0.2, 0.7, 1.0, 1.2, 1.5]).unwrap(),
        ];
        let mut s = Stream::open([31, 32], 5, 0, 0, 0, 0);
        let mut checked = 0;
        for f in families {
            for n in [0usize, 1, 2, 5, 15, 16, 17, 31, 32, 33, 65, 100, 601] {
                let maps = sp_maps(f, &mut s, n);
                let want: Vec<u64> = maps
                    .iter()
                    .map(|m| f.symmetric_point(m.lo, m.hi, m.up, m.dn).to_bits())
                    .collect();
                for (name, run) in [
                    ("dispatched", symmetric_points as Sp),
                    ("scalar", symmetric_points_scalar),
                    ("avx512", symmetric_points_avx512),
                    ("avx2", symmetric_points_avx2),
                    ("popcnt", symmetric_points_popcnt),
                ] {
                    let mut got = vec![0.5; n];
                    run(f, &maps, &mut got);
                    let got: Vec<u64> = got.iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got, want, "{name}, {f:?}, n {n}");
                }
                checked += n;
            }
        }
        assert!(checked > 10_000);
    }
}
