//! The stochastic pulse-coincidence update (shared/theory.md §2.3(c), docs/KERNEL_SPEC.md §6):
//! per sample, the x trains of every column ([`sample_trains`], `TRAIN_X` streams), then per
//! row its d train and the coincidences' pulses (`UPDATE` stream, sample word `b`).

use crate::error::CoreError;
use crate::family::Family;
use crate::par::{fill_with, for_each_row, map_row_blocks_with, row, Par};
use crate::pulse::{clip, snap, Aggregated, Lane, LaneScratch, Pulser, WindowScratch, LANE_BLOCK};
use crate::rng::{first_bits, first_bits_each, tag, Stream};
use crate::simd;
use crate::spec::{StochasticParams, MAX_DESIRED_BL};
use crate::tile::{Interrupt, Keyed, Phase, Tile, UpdateStats};
use crate::variation::ElemMap;

/// Upper bound on the x-train words kept for one chunk of samples (the chunk size never
/// changes results, because every sample has its own streams).
const TRAIN_WORDS_PER_CHUNK: usize = 1 << 22;

/// Buffers of [`sample_trains`] reused from one sample to the next (per rayon task).
#[derive(Default)]
struct TrainScratch {
    /// Columns with a positive bit probability: (column, sign of x); their streams' row words,
    /// their Bernoulli thresholds, and their trains' bits.
    cols: Vec<(u32, bool)>,
    row_words: Vec<u64>,
    thresholds: Vec<u64>,
    bits: Vec<u64>,
    /// The listed columns' x of a sample, when only some columns are listed.
    xc: Vec<f64>,
    /// Every column's threshold (`simd::bernoulli_thresholds`).
    all_thresholds: Vec<u64>,
}

/// Per-sample constants of the stochastic pulse update. Filled in place by [`sample_trains`],
/// which keeps the vectors' buffers: the slots of a call are reused by the thread's next call
/// ([`TRAIN_SLOTS`]).
#[derive(Default)]
struct SampleTrains {
    /// `None` when the sample is skipped (lr, max|x| or max|d| is 0).
    bl: usize,
    a: f64,
    /// Without `dense`: the columns whose x train has at least one bit, (column, sign of x).
    /// Empty with `dense`, where every column is listed.
    active: Vec<(u32, bool)>,
    /// 64-bit words per train: ceil(bl / 64).
    words: usize,
    /// Bits of the listed columns, `words` per column: in `active` order, or with `dense`
    /// every column's in column order (zero without a train).
    bits: Vec<u64>,
    /// With `dense`: every column's sign (x_j > 0), for the vectorised tally of a row's
    /// sample ([`simd::count_tally`], [`simd::row_tally`]); empty otherwise.
    signs: Vec<bool>,
    /// The d trains' streams of the sample (`UPDATE`, sample word); `None` when skipped.
    d_streams: Option<Keyed>,
    /// Per row, its d train's bits when the trains fit one word and the sample is fired one
    /// train at a time (not in windows): drawn here for all rows at once
    /// ([`crate::rng::first_bits`], the rows' first Philox blocks computed together), so that
    /// a row without a train opens no stream; empty otherwise ([`row_d_train`] then draws it).
    d_bits: Vec<u64>,
    /// The sample's bit length and train scales, from [`sample_scales`] (set by pass 1's first
    /// loop, read by [`sample_trains`]).
    scales: Option<Scales>,
}

const SKIPPED: usize = 0;

/// A sample's bit length `bl` and the scales of its d trains (`a`) and x trains (`bs`).
#[derive(Clone, Copy, Debug, Default)]
struct Scales {
    bl: usize,
    a: f64,
    bs: f64,
}

thread_local! {
    /// The [`SampleTrains`] of the calling thread's last update call, reused by its next: a
    /// call on many small samples (least squares, 256 replicas of 5×20, batch 10: 2,560
    /// samples) had spent a twentieth of its time allocating and freeing their vectors. Taken
    /// out for the call and put back after it, so a call made while another is running on
    /// the same thread (none is today) would only start from an empty pool. Nothing carries
    /// from one call to the next but the buffers' capacity: every slot is refilled.
    static TRAIN_SLOTS: std::cell::Cell<Vec<SampleTrains>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Words of train bits above which the pool of [`TRAIN_SLOTS`] is not kept after a call (up to
/// 32 MiB of trains, `TRAIN_WORDS_PER_CHUNK`, would otherwise stay allocated after one large
/// call).
const KEPT_TRAIN_WORDS: usize = 1 << 19;

/// Rows from which a sparse sample's d trains are drawn together ([`SampleTrains::d_bits`]),
/// before its x trains, which a sample with no d bit then skips. Eight: a 10×128 layer with
/// sparse errors 28 → 24 µs per update of 10 samples, LeNet-5's first convolution (16 rows,
/// 5,760 patches a batch, a quarter of their errors non-zero after max-pooling) 17.5 → 14 µs
/// per 10 patches on random inputs; at 32 (one AVX-512 call's lanes, the earlier bound) they
/// drew their trains row by row.
const DRAWN_D_ROWS: usize = 8;

/// Rows whose trains of one sample are fired together at most (narrow tiles; see pass 2 of
/// [`update`]); the group is also bounded by `LANE_BLOCK` columns.
const MAX_ROWS_FIRED: usize = 64;

/// The stochastic pulse-coincidence update (shared/theory.md §2.3(c)), sample by sample.
pub(super) fn update(
    tile: &mut Tile,
    p: StochasticParams,
    xs: &[f64],
    ds: &[f64],
    b: usize,
    lr: f64,
    phase: Phase,
    par: Par<'_>,
    (owner, stop): (&str, Interrupt<'_>),
) -> Result<UpdateStats, CoreError> {
    let (rr, o, i) = tile.shape();
    let dw_min = tile.device.dw_min;
    let pulser = Pulser::with_aggregate(&tile.device, p.aggregate);
    let words = (p.desired_bl as usize).div_ceil(64);
    // Windows of samples (KERNEL_SPEC §5): each element's trains of `win` consecutive samples
    // (aligned at multiples of `win` in the call) sampled together where exact.
    let win = if pulser.aggregates() && p.aggregate_samples > 1 {
        p.aggregate_samples as usize
    } else {
        1
    };
    let ideal = matches!(pulser.family(), Family::Ideal);
    // Samples go in chunks, bounded by the x-train words kept and, when the call is longer
    // than one update window of element visits (`super::window_work`; then `stop` is asked
    // between chunks), by about one window and 64 samples, so that a stop is seen within a
    // fraction of a second. A shorter call is one chunk if its trains fit: every chunk costs
    // a hand-over to the thread pool, which made small tiles with many samples (convolutions'
    // patches) spend more time switching threads than pulsing. Every sample has its own
    // streams, so the chunk size never changes results.
    let elems = tile.state.len().max(1);
    let work = tile.state.len() * b;
    let ask = u64::try_from(work).unwrap_or(u64::MAX) > super::window_work();
    let by_words = TRAIN_WORDS_PER_CHUNK / (rr * i * words).max(1);
    let chunk = if ask {
        let by_work = usize::try_from(super::window_work()).unwrap_or(usize::MAX) / elems;
        by_words.min(by_work).clamp(1, 64)
    } else {
        by_words.max(1)
    };
    // A window never spans two chunks.
    let chunk = chunk.div_ceil(win) * win;
    let mut totals = vec![0u64; rr * o];
    let mut slots = TRAIN_SLOTS.with(std::cell::Cell::take);
    let st = tile.next_tick();
    let (state, counters, maps) = tile.rows_mut(phase);
    let mut start = 0;
    while start < b {
        let end = (start + chunk).min(b);
        let nb = end - start;
        // With windows, the columns whose x is nonzero in some sample of the chunk (all of
        // them: `None`); the others get no pulse, so the windows run on these columns alone.
        let few = if win > 1 {
            few_columns(xs, (rr, b, i), start..end)
        } else {
            None
        };
        let few = few.as_deref();
        // Every sample's x-train and d-train keys, derived once for all replicas.
        let sample_keys: Vec<(Keyed, Keyed)> = (start..end)
            .map(|bb| {
                let bb = bb as u64;
                (st.keyed(tag::TRAIN_X, bb), st.keyed(tag::UPDATE, bb))
            })
            .collect();
        let sample_keys = &sample_keys;
        // With windows, the keys of the chunk's window ends (`AGGREGATE`, window index),
        // derived once for every group.
        let end_keys: Vec<Keyed> = if win > 1 {
            (start / win..end.div_ceil(win))
                .map(|w| st.keyed(tag::AGGREGATE, w as u64))
                .collect()
        } else {
            Vec::new()
        };
        let end_keys = &end_keys;
        // A tile whose state and maps outgrow a core's cache: its sparse trains' elements are
        // fetched ahead of their firing ([`prefetch_lanes`]).
        let far = state.len() >= PREFETCH_MIN_ELEMENTS;
        let per_row = par.run(work, |par| {
            // Pass 1: per (replica, sample) constants and x trains, in parallel.
            let one = |sc: &mut TrainScratch, t: usize, out: &mut SampleTrains| {
                let (r, bb) = (t / nb, start + t % nb);
                let x = row(xs, r * b + bb, i);
                let d = row(ds, r * b + bb, o);
                // The sample's x and d streams, whose keys are every replica's.
                let Some(&keys) = sample_keys.get(t % nb) else {
                    return;
                };
                let at = (keys, r);
                if let Some(cols) = few {
                    let mut xc = std::mem::take(&mut sc.xc);
                    xc.clear();
                    xc.extend(
                        cols.iter()
                            .map(|&j| x.get(j as usize).copied().unwrap_or(0.0)),
                    );
                    let c = (&xc[..], Some(cols));
                    sample_trains(sc, out, c, d, at, true);
                    sc.xc = xc;
                    return;
                }
                sample_trains(sc, out, (x, None), d, at, win > 1);
            };
            if slots.len() < rr * nb {
                slots.resize_with(rr * nb, SampleTrains::default);
            }
            let trains = slots.get_mut(..rr * nb).unwrap_or_default();
            // Every sample's scales first, in blocks of samples: max |x| and max |d| per
            // sample, then each sample's chain of dependent divisions and square roots in the
            // vector lanes (`simd::sample_scales`; computed at the head of each sample's
            // trains, the core had waited on every chain). x's zeros change no maximum, so the
            // whole row gives the scales of the columns `few` lists.
            let mode = um_mode(&p);
            for_each_row(par, trains, SCALE_BLOCK, |g, block| {
                let mut xm = [0.0; SCALE_BLOCK];
                let mut dm = [0.0; SCALE_BLOCK];
                for (k, (xv, dv)) in xm
                    .iter_mut()
                    .zip(dm.iter_mut())
                    .enumerate()
                    .take(block.len())
                {
                    let t = g * SCALE_BLOCK + k;
                    let (r, bb) = (t / nb, start + t % nb);
                    *xv = max_abs(row(xs, r * b + bb, i));
                    *dv = p.um_grad_scale * max_abs(row(ds, r * b + bb, o));
                }
                let mut sc = [[0.0; SCALE_BLOCK]; 3];
                simd::sample_scales(&xm, &dm, (lr, dw_min), mode, &mut sc);
                let [bls, a_s, bs_s] = &sc;
                for (k, out) in block.iter_mut().enumerate() {
                    let (x_m, d_m) = (xm[k], dm[k]);
                    out.scales = (lr != 0.0 && x_m != 0.0 && d_m != 0.0).then(|| Scales {
                        bl: bls[k] as usize,
                        a: a_s[k],
                        bs: bs_s[k],
                    });
                }
            });
            fill_with(par, trains, TrainScratch::default, one);
            let trains = &*trains;
            // Pass 2 (the closure's value): the pulses per row. Rows go in groups of as many
            // whole rows as fit one lane block, and a group's trains of one sample are fired
            // together, so narrow tiles fire hundreds of trains at once instead of a few per
            // row. The elements of different rows are distinct and every sample's trains are
            // fired before the next sample's, so each element's pulses keep their order and
            // their noise: the grouping changes no value. The scratch buffers live as long as
            // a rayon task (allocating them per row cost a fifth of a sparse update); they
            // carry nothing from one group to the next.
            let group = (LANE_BLOCK / i.max(1)).clamp(1, MAX_ROWS_FIRED);
            let init = || {
                (
                    LaneScratch::default(),
                    Vec::<u32>::new(),
                    WindowScratch::default(),
                    GroupScratch::default(),
                )
            };
            let per_group = map_row_blocks_with(
                par,
                i,
                group,
                state,
                counters,
                maps,
                init,
                |sc, g0, pblk, cblk, mblk| {
                    let (scratch, n_co, ws, gs) = sc;
                    if win > 1 {
                        let ctx = WindowCtx {
                            pulser: &pulser,
                            trains,
                            ds,
                            shape: (o, b),
                            samples: start..end,
                            win,
                            end_keys,
                            ideal,
                        };
                        let Some(cols) = few else {
                            return window_group(&ctx, (ws, gs), g0, i, (pblk, cblk, mblk));
                        };
                        return window_group_few(&ctx, (ws, gs), g0, (i, cols), pblk, cblk, mblk);
                    }
                    let mut fired = vec![0u64; pblk.len() / i.max(1)];
                    let mut dbits = [0u64; (MAX_DESIRED_BL as usize).div_ceil(64)];
                    for k in 0..nb {
                        let bb = start + k;
                        for (rr, (fired, crow)) in
                            fired.iter_mut().zip(cblk.chunks_mut(i.max(1))).enumerate()
                        {
                            let (r, rw) = ((g0 + rr) / o, (g0 + rr) % o);
                            let at = (r, rw, k, bb);
                            let Some((tr, dv, mut s)) =
                                row_d_train(trains, ds, (o, b, nb), at, &mut dbits)
                            else {
                                continue;
                            };
                            let words = tr.words;
                            let Some(dw) = dbits.get(..words) else {
                                continue;
                            };
                            let d_pos = dv > 0.0;
                            // Elements of this row within the group.
                            let base = rr * i;
                            // Coincidences per column, in blocks of LANE_BLOCK columns: a
                            // block's noise is drawn in column order (the order `fire` would
                            // draw it in) after the pending trains' noise.
                            for (block, bits) in tr
                                .active
                                .chunks(LANE_BLOCK)
                                .zip(tr.bits.chunks(LANE_BLOCK * words))
                            {
                                // Coincidences with popcount over the packed trains, in
                                // vectors where the CPU has them (`simd::count_coincidences`).
                                let counts = &mut *n_co;
                                counts.clear();
                                counts.resize(block.len(), 0);
                                simd::count_coincidences(bits, dw, counts);
                                // BL 1: every train is one pulse, fired here in column order
                                // with the block's noise as the lanes would have it (a train
                                // of one pulse is never aggregated either). The elements are
                                // this row's, distinct from the pending lanes', so the order
                                // changes no value. 784×256 and 256×128 layers of the MNIST
                                // loop (BL management): 8% and 16% faster than through lanes.
                                if tr.bl == 1 {
                                    // Counts of 0 or 1: their sum is the block's pulses.
                                    let total: u64 = counts.iter().map(|&n| u64::from(n)).sum();
                                    if total == 0 {
                                        continue;
                                    }
                                    for (&(col, _), &n) in block.iter().zip(counts.iter()) {
                                        if let Some(c) = crow.get_mut(col as usize) {
                                            *c += u64::from(n);
                                        }
                                    }
                                    if far && !tr.d_bits.is_empty() {
                                        let js = block.iter().zip(counts.iter());
                                        let js = js.filter(|(_, &n)| n > 0);
                                        prefetch_elements(
                                            js.map(|(&(col, _), _)| base + col as usize),
                                            pblk,
                                            mblk,
                                        );
                                    }
                                    *fired += total;
                                    let off0 = scratch.normals.len();
                                    pulser.draw_noise(total, &mut s, &mut scratch.normals);
                                    pulser.fire_singles(
                                        pblk,
                                        mblk,
                                        (block, counts),
                                        (d_pos, base),
                                        scratch.normals.get(off0..).unwrap_or(&[]),
                                    );
                                    scratch.normals.truncate(off0);
                                    continue;
                                }
                                // The pending trains are fired first if this block's would
                                // make more than LANE_BLOCK of them.
                                if scratch.count.max(scratch.n_aggregated) + block.len()
                                    > LANE_BLOCK
                                {
                                    pulser.fire_lanes(pblk, mblk, scratch);
                                }
                                if pulser.aggregates() {
                                    *fired += aggregated_block(
                                        &pulser, block, counts, d_pos, base, pblk, crow, mblk,
                                        scratch, &mut s,
                                    );
                                    continue;
                                }
                                let (first, off0) = (scratch.count, scratch.normals.len());
                                let lanes = &mut scratch.lanes;
                                if lanes.len() < first + block.len() {
                                    lanes.resize(first + block.len(), Lane::default());
                                }
                                // Compact as we go: every column writes the next lane, and
                                // only those with a coincidence advance (no branch on it).
                                let mut total = 0u64;
                                let mut live = first;
                                for ((col, x_pos), &n) in block.iter().zip(counts.iter()) {
                                    // Sign of the pulses: −sign(x_j d_i) (ΔW = −lr d xᵀ).
                                    if let Some(slot) = lanes.get_mut(live) {
                                        *slot = Lane {
                                            j: (base + *col as usize) as u32,
                                            left: n,
                                            off: (off0 as u64 + total) as u32,
                                            up: x_pos != &d_pos,
                                        };
                                    }
                                    total += u64::from(n);
                                    live += usize::from(n > 0);
                                }
                                // The counters of the columns with pulses, in a loop of its
                                // own (in the loop above, a read-modify-write per column).
                                for l in lanes.get(first..live).unwrap_or(&[]) {
                                    let col = (l.j as usize).checked_sub(base);
                                    if let Some(c) = col.and_then(|c| crow.get_mut(c)) {
                                        *c += u64::from(l.left);
                                    }
                                }
                                if far && !tr.d_bits.is_empty() {
                                    prefetch_lanes(lanes.get(first..live), pblk, mblk);
                                }
                                scratch.count = live;
                                *fired += total;
                                pulser.draw_noise(total, &mut s, &mut scratch.normals);
                            }
                        }
                        // This sample's trains, before the next sample's.
                        pulser.fire_lanes(pblk, mblk, scratch);
                    }
                    fired
                },
            );
            per_group.into_iter().flatten().collect::<Vec<u64>>()
        });
        for (t, v) in totals.iter_mut().zip(per_row) {
            *t = t.saturating_add(v);
        }
        start = end;
        if ask && start < b && stop() {
            keep_slots(slots);
            return Err(CoreError::Interrupted {
                owner: owner.to_owned(),
            });
        }
    }
    keep_slots(slots);
    Ok(tile.per_replica(&totals))
}

/// Puts a call's [`SampleTrains`] back for the thread's next call, unless they hold more than
/// [`KEPT_TRAIN_WORDS`] words of bits.
fn keep_slots(slots: Vec<SampleTrains>) {
    let words: usize = slots.iter().map(|t| t.bits.capacity()).sum();
    if words <= KEPT_TRAIN_WORDS {
        TRAIN_SLOTS.with(|c| c.set(slots));
    }
}

/// The d train of row `rw` of replica `r` in sample `bb` (the chunk's `k`-th; `o` rows per
/// replica, `b` samples in the call, `nb` in the chunk), when it has a bit: the sample's
/// trains, the row's d and its `UPDATE` stream after the train, whose bits are left in
/// `dbits[..words]`. `None` for a skipped sample, a zero probability or an empty train.
fn row_d_train<'t>(
    trains: &'t [SampleTrains],
    ds: &[f64],
    (o, b, nb): (usize, usize, usize),
    (r, rw, k, bb): (usize, usize, usize, usize),
    dbits: &mut [u64],
) -> Option<(&'t SampleTrains, f64, Stream)> {
    let tr = trains.get(r * nb + k)?;
    if tr.bl == SKIPPED {
        return None;
    }
    let dv = ds.get((r * b + bb) * o + rw).copied().unwrap_or(0.0);
    if let Some(&bits) = tr.d_bits.get(rw) {
        // Drawn with the sample's trains: the row's stream is opened after them, only for a
        // train with a bit.
        if bits == 0 {
            return None;
        }
        let dw = dbits.get_mut(..tr.words)?;
        dw.fill(0);
        *dw.first_mut()? = bits;
        return Some((tr, dv, tr.d_streams?.open_at(r, rw as u64, tr.bl as u64)));
    }
    let pd = snap(tr.a * dv.abs());
    if pd <= 0.0 {
        return None;
    }
    let mut s = tr.d_streams?.open(r, rw as u64);
    let dw = dbits.get_mut(..tr.words)?;
    dw.fill(0);
    s.bernoulli_bits(pd, tr.bl, dw).then_some((tr, dv, s))
}

/// The columns whose x is nonzero in some replica's sample `samples` (ascending), or `None`
/// when that is every column. Only these columns can have pulses in those samples.
fn few_columns(
    xs: &[f64],
    (rr, b, i): (usize, usize, usize),
    samples: std::ops::Range<usize>,
) -> Option<Vec<u32>> {
    let mut any = vec![false; i];
    // Columns not yet seen nonzero: at 0 the answer is `None`, however many samples are left
    // (dense inputs, as least squares' rows, tell after their first sample).
    let mut unseen = i;
    for r in 0..rr {
        for bb in samples.clone() {
            for (a, &x) in any.iter_mut().zip(row(xs, r * b + bb, i)) {
                let new = !*a && x != 0.0;
                *a |= new;
                unseen -= usize::from(new);
            }
            if unseen == 0 {
                return None;
            }
        }
    }
    let cols: Vec<u32> = (0..i as u32).filter(|&j| any[j as usize]).collect();
    (cols.len() < i).then_some(cols)
}

/// What every row group of a windowed chunk shares (KERNEL_SPEC §5, "Windows of samples").
struct WindowCtx<'a> {
    pulser: &'a Pulser,
    /// The chunk's per-(replica, sample) trains, replica-major.
    trains: &'a [SampleTrains],
    ds: &'a [f64],
    /// Rows o of a replica and samples b of the call.
    shape: (usize, usize),
    samples: std::ops::Range<usize>,
    win: usize,
    /// The keys of the window ends of `samples`, from window `samples.start / win` on.
    end_keys: &'a [Keyed],
    ideal: bool,
}

/// One row's d train in [`ShortTrains`].
enum Short<'t> {
    /// No slot set (or nothing to draw): the row has no pulse in this sample.
    Empty,
    /// The train's slots in one word, and the row's streams (keyed by the sample).
    Bits(&'t SampleTrains, u64, Keyed),
}

/// The d trains of at most 64 slots of a group's rows in one sample, drawn together across
/// the rows (`first_bits_each`: the streams' first blocks computed in the vector lanes and
/// compared there) instead of one stream refill per row; each row's stream is opened after
/// its train only if the row needs it ([`fire_failed`]). Rows with longer trains are left to
/// [`row_d_train`]. The same slots as `Stream::bernoulli_bits` sets, and the same stream after.
#[derive(Default)]
struct ShortTrains {
    /// Per row of the group: index into the drawn trains, `EMPTY` (no train) or `LONG`.
    at: Vec<usize>,
    row_words: Vec<u64>,
    thresholds: Vec<u64>,
    /// The drawn trains' probabilities, whose thresholds are computed together.
    pds: Vec<f64>,
    bls: Vec<usize>,
    bits: Vec<u64>,
    keyed: Option<Keyed>,
    trains: Vec<usize>,
}

/// `(rr, r, row)` of the group's rows `rr` in `0..rows` from global row `g0`: replica `r` =
/// `(g0 + rr) / o` and its row `(g0 + rr) % o`, stepped instead of divided.
fn row_coords(g0: usize, rows: usize, o: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let o = o.max(1);
    let (mut r, mut rw) = (g0 / o, g0 % o);
    (0..rows).map(move |rr| {
        let at = (rr, r, rw);
        rw += 1;
        if rw == o {
            (r, rw) = (r + 1, 0);
        }
        at
    })
}

/// A windowed group's buffers that live as long as a rayon task (allocated per group, they
/// and their growth were a tenth of a transfer's one-column update): the d trains, the rows
/// waiting on the group's moments, and [`window_group_few`]'s gathered elements.
#[derive(Default)]
struct GroupScratch {
    short: ShortTrains,
    pending: Vec<(usize, Opener)>,
    spots: Vec<usize>,
    p: Vec<f64>,
    c: Vec<u64>,
    m: Vec<ElemMap>,
}

impl ShortTrains {
    const EMPTY: usize = usize::MAX;
    const LONG: usize = usize::MAX - 1;

    /// Draws the one-word d trains of rows `g0..g0 + rows` in the chunk's `k`-th sample `bb`.
    fn draw(&mut self, ctx: &WindowCtx<'_>, (g0, rows): (usize, usize), (k, bb): (usize, usize)) {
        let (o, b) = ctx.shape;
        let nb = ctx.samples.len();
        self.at.clear();
        self.row_words.clear();
        self.thresholds.clear();
        self.pds.clear();
        self.bls.clear();
        self.trains.clear();
        // Every replica's d streams of a sample share one key (`Streams::keyed`): the first
        // row's. A group of one row gains nothing (its blocks fill half the lanes, as a
        // refill's do), so it is left to `row_d_train`.
        let first = (0..rows).find_map(|rr| {
            let r = (g0 + rr) / o;
            ctx.trains.get(r * nb + k).and_then(|tr| tr.d_streams)
        });
        self.keyed = first;
        let Some(keyed) = first.filter(|_| rows >= 2) else {
            self.at.resize(rows, Self::LONG);
            self.bits.clear();
            return;
        };
        for (_, r, rw) in row_coords(g0, rows, o) {
            let Some(tr) = ctx.trains.get(r * nb + k) else {
                self.at.push(Self::EMPTY);
                continue;
            };
            if tr.bl == SKIPPED {
                self.at.push(Self::EMPTY);
                continue;
            }
            let same_key = tr.d_streams.is_some_and(|d| d.key() == keyed.key());
            if tr.bl > 64 || !same_key {
                self.at.push(Self::LONG);
                continue;
            }
            let dv = ctx.ds.get((r * b + bb) * o + rw).copied().unwrap_or(0.0);
            let pd = snap(tr.a * dv.abs());
            if pd <= 0.0 {
                self.at.push(Self::EMPTY);
                continue;
            }
            self.at.push(self.row_words.len());
            self.row_words.push(keyed.row_word(r, rw as u64));
            self.pds.push(pd);
            self.bls.push(tr.bl);
            self.trains.push(r * nb + k);
        }
        // bernoulli_threshold(pd) for every train, in vectors: pd is snapped and positive,
        // so snap(1·|pd|) is pd.
        self.thresholds.resize(self.pds.len(), 0);
        simd::bernoulli_thresholds(&self.pds, 1.0, &mut self.thresholds);
        let bls = &self.bls;
        let bl = |t: usize| bls.get(t).copied().unwrap_or(0);
        first_bits_each(
            keyed.key(),
            &self.row_words,
            &self.thresholds,
            bl,
            &mut self.bits,
        );
    }

    /// Row `rr`'s train: `None` for a row left to [`row_d_train`].
    fn get<'t>(&self, rr: usize, trains: &'t [SampleTrains]) -> Option<Short<'t>> {
        let at = *self.at.get(rr)?;
        if at == Self::LONG {
            return None;
        }
        if at == Self::EMPTY {
            return Some(Short::Empty);
        }
        let (Some(&bits), Some(&t), Some(keyed)) =
            (self.bits.get(at), self.trains.get(at), self.keyed)
        else {
            return Some(Short::Empty);
        };
        match trains.get(t) {
            Some(tr) if bits != 0 => Some(Short::Bits(tr, bits, keyed)),
            _ => Some(Short::Empty),
        }
    }
}

/// [`window_group`] on the columns `cols` of the group's rows alone (the others have no pulse
/// in the chunk, so their states, counters and moments never change): the columns' states,
/// counters and maps are gathered into rows of `cols.len()`, run, and written back. Their
/// order is kept, so every stream is drawn as on whole rows: the same values.
fn window_group_few(
    ctx: &WindowCtx<'_>,
    sc: (&mut WindowScratch, &mut GroupScratch),
    g0: usize,
    (i, cols): (usize, &[u32]),
    pblk: &mut [f64],
    cblk: &mut [u64],
    mblk: &[ElemMap],
) -> Vec<u64> {
    let (ws, gs) = sc;
    let rows = pblk.len() / i.max(1);
    let at = |g: usize, c: u32| g * i + c as usize;
    let (mut spots, mut p, mut c, mut m) = (
        std::mem::take(&mut gs.spots),
        std::mem::take(&mut gs.p),
        std::mem::take(&mut gs.c),
        std::mem::take(&mut gs.m),
    );
    spots.clear();
    spots.extend((0..rows).flat_map(|g| cols.iter().map(move |&c| at(g, c))));
    p.clear();
    p.extend(spots.iter().map(|&t| pblk.get(t).copied().unwrap_or(0.0)));
    c.clear();
    c.extend(spots.iter().map(|&t| cblk.get(t).copied().unwrap_or(0)));
    m.clear();
    m.extend(spots.iter().filter_map(|&t| mblk.get(t).copied()));
    let fired = if m.len() == spots.len() {
        let fired = window_group(ctx, (ws, gs), g0, cols.len(), (&mut p, &mut c, &m));
        for ((&t, &pv), &cv) in spots.iter().zip(&p).zip(&c) {
            if let (Some(ps), Some(cs)) = (pblk.get_mut(t), cblk.get_mut(t)) {
                (*ps, *cs) = (pv, cv);
            }
        }
        fired
    } else {
        vec![0; rows]
    };
    (gs.spots, gs.p, gs.c, gs.m) = (spots, p, c, m);
    fired
}

/// A windowed chunk on one group of rows (`i` elements each, from row `g0` of the tile):
/// per sample each row's d train and counts ([`window_counts`]), the group's moments in one
/// pass ([`WindowScratch::advance`]) and the rows' trains that left the guard band
/// ([`fire_failed`]), and at each window's end [`WindowScratch::end_row`]. Returns the pulses
/// fired per row.
fn window_group(
    ctx: &WindowCtx<'_>,
    (ws, gs): (&mut WindowScratch, &mut GroupScratch),
    g0: usize,
    i: usize,
    (pblk, cblk, mblk): (&mut [f64], &mut [u64], &[ElemMap]),
) -> Vec<u64> {
    let (o, b) = ctx.shape;
    let nb = ctx.samples.len();
    let rows = pblk.len() / i.max(1);
    let mut fired = vec![0u64; rows];
    let mut dbits = [0u64; (MAX_DESIRED_BL as usize).div_ceil(64)];
    let GroupScratch { short, pending, .. } = gs;
    let wide = i >= WIDE_ROW;
    ws.load(ctx.pulser, mblk);
    for (k, bb) in ctx.samples.clone().enumerate() {
        if bb % ctx.win == 0 {
            ws.start(pblk);
        }
        // The d trains of one word, of all the group's rows at once.
        short.draw(ctx, (g0, rows), (k, bb));
        // Every row's counts into the group's buffers (rows without a train keep counts of
        // zero), then the moments, then each row's trains that left the guard band, from the
        // row's stream after its d train. The rows' elements and streams are their own, so
        // this order gives the values of row after row. Short rows (least squares' 20
        // columns) advance the whole group in one pass; long rows one by one, each with the
        // bits of its own longest train (a row's weak trains would otherwise pay for its
        // neighbour's long ones).
        // Long rows count into the buffers' first row, reused row after row.
        ws.clear_group(if wide { i } else { rows * i });
        pending.clear();
        let mut longest = 0u32;
        let group_rows = fired.iter_mut().zip(cblk.chunks_mut(i.max(1)));
        for ((rr, r, rw), (fired, crow)) in row_coords(g0, rows, o).zip(group_rows) {
            let dv = ctx.ds.get((r * b + bb) * o + rw).copied().unwrap_or(0.0);
            let (d_pos, span) = (dv > 0.0, (if wide { 0 } else { rr * i }, i));
            let (n, long, opener) = match short.get(rr, ctx.trains) {
                Some(Short::Empty) => continue,
                Some(Short::Bits(tr, bits, keyed)) => {
                    let (n, long) = window_counts(ws, tr, d_pos, &[bits], span, crow);
                    (n, long, Opener::At(keyed, r, rw as u64, tr.bl as u64))
                }
                None => {
                    let at = (r, rw, k, bb);
                    let Some((tr, _, s)) =
                        row_d_train(ctx.trains, ctx.ds, (o, b, nb), at, &mut dbits)
                    else {
                        continue;
                    };
                    let Some(dw) = dbits.get(..tr.words) else {
                        continue;
                    };
                    let (n, long) = window_counts(ws, tr, d_pos, dw, span, crow);
                    (n, long, Opener::Stream(Box::new(s)))
                }
            };
            *fired += n;
            if wide {
                // The row at once, with the bits of its own longest train.
                let bits = u32::BITS - long.leading_zeros();
                if ws.advance(ctx.ideal, (rr * i, 0, i), bits) != 0 {
                    let sink = (&mut *pblk, mblk);
                    fire_failed(ctx.pulser, ws, (rr * i, 0, i), sink, opener.open());
                }
                ws.clear_group(i);
            } else {
                longest = longest.max(long);
                pending.push((rr, opener));
            }
        }
        if !wide && !pending.is_empty() {
            // The powering runs over the bits of the group's longest train.
            let bits = u32::BITS - longest.leading_zeros();
            if ws.advance(ctx.ideal, (0, 0, rows * i), bits) != 0 {
                for (rr, opener) in pending.drain(..) {
                    // The row's stream is opened only for a row with such a train.
                    let failed = ws.fail.get(rr * i..(rr + 1) * i);
                    if failed.is_some_and(|f| f.contains(&true)) {
                        let span = (rr * i, rr * i, i);
                        fire_failed(ctx.pulser, ws, span, (&mut *pblk, mblk), opener.open());
                    }
                }
            }
        }
        let window = bb / ctx.win - ctx.samples.start / ctx.win;
        let end_key = ctx.end_keys.get(window).copied();
        if let Some(keyed) = end_key.filter(|_| (bb + 1) % ctx.win == 0 || bb + 1 == b) {
            // Each row's normals from its own stream, then the group's states in one pass.
            for (rr, r, rw) in row_coords(g0, fired.len(), o) {
                ws.end_normals(keyed.open(r, rw as u64), rr * i, i);
            }
            ws.end_span(0, fired.len() * i, pblk);
        }
    }
    fired
}

/// Columns from which a windowed group's rows advance one by one ([`window_group`]).
const WIDE_ROW: usize = 64;

/// Where a row's stream after its d train is, for its trains that leave the guard band: the
/// word after a one-word train (`Keyed::open_at(r, row, words)`), or the stream itself.
enum Opener {
    At(Keyed, usize, u64, u64),
    Stream(Box<Stream>),
}

impl Opener {
    fn open(self) -> Stream {
        match self {
            Opener::At(keyed, r, rw, words) => keyed.open_at(r, rw, words),
            Opener::Stream(s) => *s,
        }
    }
}

/// One row's sample in a window of samples (KERNEL_SPEC §5, "Windows of samples"): the
/// coincidences per column into the group's buffers `ws.n`, `ws.up` at `base..base + i`, and
/// the pulses added to the row's counters `crow`. A window's x trains list every column in
/// column order (`sample_trains` with `dense`), so the counts go straight into the row's
/// columns in contiguous loops. Returns the row's pulses and its longest train.
fn window_counts(
    ws: &mut WindowScratch,
    tr: &SampleTrains,
    d_pos: bool,
    dw: &[u64],
    (base, i): (usize, usize),
    crow: &mut [u64],
) -> (u64, u32) {
    let span = base..base + i;
    let (Some(ns), Some(ups), Some(cr), Some(signs)) = (
        ws.n.get_mut(span.clone()),
        ws.up.get_mut(span),
        crow.get_mut(..i),
        tr.signs.get(..i),
    ) else {
        return (0, 0);
    };
    if let [d] = dw {
        simd::count_tally(&tr.bits, *d, signs, d_pos, ns, ups, cr)
    } else {
        simd::count_coincidences(&tr.bits, dw, ns);
        simd::row_tally(ns, signs, d_pos, ups, cr)
    }
}

/// The trains of the row of the group's `i` elements from `at` (their counts and flags from
/// `from` in `ws.n`, `ws.up`, `ws.fail`) that left the guard band in the last advance, fired
/// pulse by pulse in column order, each from the element's exact state (its in-flight
/// moments first take one normal, then the train its n), from the row's stream after the d
/// train `s`. Nothing is drawn for a row without such a train.
fn fire_failed(
    pulser: &Pulser,
    ws: &mut WindowScratch,
    (at, from, i): (usize, usize, usize),
    (prow, mrow): (&mut [f64], &[ElemMap]),
    mut s: Stream,
) {
    for c in 0..i {
        let (t, k) = (at + c, from + c);
        if !ws.fail.get(k).copied().unwrap_or(false) {
            continue;
        }
        let (lo, hi) = ws.bounds(t);
        let (Some(&n), Some(&up), Some(m)) = (ws.n.get(k), ws.up.get(k), mrow.get(t)) else {
            continue;
        };
        let (Some(mt), Some(vt), Some(p)) = (ws.m.get_mut(t), ws.v.get_mut(t), prow.get_mut(t))
        else {
            continue;
        };
        let mut w = *mt;
        if *vt > 0.0 {
            w = clip(w + vt.sqrt() * s.normal(), lo, hi);
        }
        pulser.fire(&mut w, m, up, u64::from(n), &mut s);
        (*p, *mt, *vt) = (w, w, 0.0);
    }
}

/// Elements (state 8 B, map 32 B, counter 8 B each) from which a tile outgrows a core's
/// cache (1.5 MiB): below it the elements stay cached between samples.
const PREFETCH_MIN_ELEMENTS: usize = 1 << 15;

/// Asks the CPU to bring each lane's state and map into its caches, ahead of
/// [`Pulser::fire_lanes`], which loads them (`prefetch_index`, a hint: no value changes).
/// A map's 32 bytes may span two cache lines: both are asked for. The caller asks only where
/// the sample's rows mostly have no d train (their d trains drawn together, [`d_trains`]): the
/// rows that fire are then few and scattered, and the hardware's prefetchers, which follow a
/// dense sweep of the rows, miss their elements. MNIST-shaped 784-256-128-10 training loop
/// (A/B, one thread, 2026-12-07): 0.93–0.98 → 0.89–0.96 ms per batch in one run, 1.10–1.29 →
/// 0.97–1.05 in another; asked on every tile the dense 512×512 update was 7% slower.
fn prefetch_lanes(lanes: Option<&[Lane]>, prow: &[f64], mrow: &[ElemMap]) {
    prefetch_elements(
        lanes.unwrap_or(&[]).iter().map(|l| l.j as usize),
        prow,
        mrow,
    );
}

/// Asks for the elements' states and maps ([`prefetch_lanes`]).
fn prefetch_elements(js: impl Iterator<Item = usize>, prow: &[f64], mrow: &[ElemMap]) {
    for j in js {
        prefetch_index::prefetch_index(prow, j);
        if let Some(m) = mrow.get(j) {
            prefetch_index::prefetch_index(std::slice::from_ref(m), 0);
            prefetch_index::prefetch_index(std::slice::from_ref(&m.dn), 0);
        }
    }
}

/// One block's trains with the aggregated sampler on (KERNEL_SPEC §5, §6): in column order,
/// a train of n >= 2 pulses whose moments pass the guard band takes one normal and is
/// recorded in `scratch.aggregated`, every other train takes its n normals as a lane; the
/// normals are then drawn from `s` in that order. Adds the pulses to the counters and returns
/// them; the caller fires the scratch.
#[allow(clippy::too_many_arguments)]
fn aggregated_block(
    pulser: &Pulser,
    block: &[(u32, bool)],
    counts: &[u32],
    d_pos: bool,
    base: usize,
    prow: &[f64],
    crow: &mut [u64],
    mrow: &[ElemMap],
    scratch: &mut LaneScratch,
    s: &mut Stream,
) -> u64 {
    let mut pulses = 0u64;
    let ab = &mut scratch.block;
    ab.reserve(block.len());
    // Compact as we go (no branch on n): every column writes the next slot, and only those
    // with pulses advance.
    let mut live = 0usize;
    for (&(col, x_pos), &n) in block.iter().zip(counts) {
        let j = base + col as usize;
        let (Some(c), Some(&w), Some(m)) = (crow.get_mut(col as usize), prow.get(j), mrow.get(j))
        else {
            continue;
        };
        *c += u64::from(n);
        pulses += u64::from(n);
        ab.set(live, j as u32, n, x_pos != d_pos, w, m);
        live += usize::from(n > 0);
    }
    ab.set_len(live);
    // Moments and guard of every train at once, then each train takes its normals in
    // column order: one if it aggregates, else n (again compacting without branches).
    pulser.aggregate_block(ab);
    // After the pending trains and their noise.
    let (first_lane, first_agg) = (scratch.count, scratch.n_aggregated);
    if scratch.lanes.len() < first_lane + live {
        scratch.lanes.resize(first_lane + live, Lane::default());
    }
    if scratch.aggregated.len() < first_agg + live {
        scratch
            .aggregated
            .resize(first_agg + live, Aggregated::default());
    }
    let off0 = scratch.normals.len() as u32;
    let (mut n_lanes, mut n_agg, mut need) = (first_lane, first_agg, 0u32);
    let trains =
        ab.j.iter()
            .zip(&ab.n)
            .zip(&ab.up)
            .zip(&ab.ok)
            .zip(&ab.mean)
            .zip(&ab.sd);
    for (((((&j, &n), &up), &ok), &mean), &sd) in trains.take(live) {
        if let Some(a) = scratch.aggregated.get_mut(n_agg) {
            *a = Aggregated {
                j,
                off: off0 + need,
                mean,
                sd,
            };
        }
        if let Some(l) = scratch.lanes.get_mut(n_lanes) {
            *l = Lane {
                j,
                left: n,
                off: off0 + need,
                up,
            };
        }
        n_agg += usize::from(ok);
        n_lanes += usize::from(!ok);
        need += if ok { 1 } else { n };
    }
    scratch.n_aggregated = n_agg;
    scratch.count = n_lanes;
    let need = u64::from(need);
    pulser.draw_noise(need, s, &mut scratch.normals);
    pulses
}

/// BL, A, B and the x trains of one sample (shared/theory.md §2.3(c) steps 1–4).
///
/// With `dense` (windows of samples) every column is listed in `active`, in column order, its
/// bits zero when its train is empty, so that a row's counts fill its columns directly. The
/// bit length and scales are the sample's `scales` ([`sample_scales`]).
fn sample_trains(
    sc: &mut TrainScratch,
    out: &mut SampleTrains,
    (x, subset): (&[f64], Option<&[u32]>),
    d: &[f64],
    ((xs, d_streams), replica): ((Keyed, Keyed), usize),
    dense: bool,
) {
    // Skipped until shown otherwise; the vectors keep their buffers.
    out.bl = SKIPPED;
    (out.a, out.words, out.d_streams) = (0.0, 0, None);
    out.active.clear();
    out.bits.clear();
    out.signs.clear();
    out.d_bits.clear();
    let Some(Scales { bl, a, bs }) = out.scales else {
        return;
    };
    let full_words = bl.div_ceil(64);
    // The tile column of listed column j (x may be a subset of the row's columns, in order).
    let column = |j: usize| subset.map_or(j, |c| c.get(j).map_or(j, |&c| c as usize)) as u64;
    let (active, bits) = (&mut out.active, &mut out.bits);
    if !dense {
        active.reserve(x.len());
    }
    bits.reserve(x.len() * full_words);
    if bl <= 64 {
        // Windows draw their d trains by row group (`ShortTrains`); `d_trains` draws them here
        // for sparse samples only, before the x trains: a sample in which no row has a d bit
        // has no coincidence, so it is skipped without drawing them (44% of the patches of
        // LeNet-5's first convolution in `bench_nn.py`, whose errors are sparse after
        // max-pooling).
        if !dense {
            d_trains(sc, d_streams, d, a, bl, replica, &mut out.d_bits);
            if !out.d_bits.is_empty() && out.d_bits.iter().all(|&w| w == 0) {
                out.d_bits.clear();
                return;
            }
        }
        // One word per train: the trains' bits computed for all columns at once
        // (`first_bits`: the streams' first blocks across the columns, none computed in vain,
        // compared in the vector lanes), each as `Stream::bernoulli_bits` sets it.
        let TrainScratch {
            cols,
            row_words,
            thresholds,
            bits: col_bits,
            all_thresholds,
            ..
        } = sc;
        cols.clear();
        row_words.clear();
        thresholds.clear();
        // Every column's threshold in vectors; a column has a train where it is above 0
        // (where snap(bs·|x|) > 0).
        all_thresholds.resize(x.len(), 0);
        simd::bernoulli_thresholds(x, bs, all_thresholds);
        let zeros = all_thresholds.iter().filter(|&&t| t == 0).count();
        if dense && zeros * 8 <= x.len() {
            // Every column's train computed from its own threshold: a threshold of 0 sets no
            // bit, so a column without a train gets the zero bits the list below would give
            // it, and no list is built (least squares' 20 columns are all nonzero).
            row_words.extend((0..x.len()).map(|j| xs.row_word(replica, column(j))));
            first_bits(xs.key(), row_words, all_thresholds, bl, bits);
        } else {
            for (j, (&xv, &th)) in x.iter().zip(all_thresholds.iter()).enumerate() {
                if th > 0 {
                    cols.push((j as u32, xv > 0.0));
                    row_words.push(xs.row_word(replica, column(j)));
                    thresholds.push(th);
                }
            }
            first_bits(xs.key(), row_words, thresholds, bl, col_bits);
            if dense {
                // Every column in order, its bits zero unless listed above.
                bits.resize(x.len(), 0);
                for (&(j, _), &acc) in cols.iter().zip(col_bits.iter()) {
                    if let Some(b) = bits.get_mut(j as usize) {
                        *b = acc;
                    }
                }
            } else {
                for (&(j, pos), &acc) in cols.iter().zip(col_bits.iter()) {
                    if acc != 0 {
                        active.push((j, pos));
                        bits.push(acc);
                    }
                }
            }
        }
    } else {
        let mut buf = vec![0u64; full_words];
        for (j, &xv) in x.iter().enumerate() {
            let px = snap(bs * xv.abs());
            buf.fill(0);
            let set = px > 0.0 && xs.open(replica, column(j)).bernoulli_bits(px, bl, &mut buf);
            if dense {
                bits.extend_from_slice(&buf);
            } else if set {
                active.push((j as u32, xv > 0.0));
                bits.extend_from_slice(&buf);
            }
        }
    }
    if dense {
        out.signs.extend(x.iter().map(|&xv| xv > 0.0));
    }
    (out.bl, out.a, out.words) = (bl, a, full_words);
    out.d_streams = Some(d_streams);
}

/// Samples per call of [`simd::sample_scales`].
const SCALE_BLOCK: usize = simd::SCALE_LANES;

/// The update's [`simd::UmMode`]: its bit-length rule and desired bit length.
fn um_mode(p: &StochasticParams) -> simd::UmMode {
    simd::UmMode {
        desired_bl: f64::from(p.desired_bl),
        bl_management: p.update_bl_management,
        fixed: p.fixed_bl,
        um: p.update_management || p.update_bl_management,
        cap: f64::from(MAX_DESIRED_BL),
    }
}

/// max |v| over `v` (0 when empty), in eight running maxima: the inputs are finite (checked
/// by the caller), and the maximum of finite values does not depend on their order, so this
/// is the value of the fold in order, without its chain of dependent compares.
fn max_abs(v: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = a.max(x.abs());
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()));
    acc.iter().fold(tail, |m, &a| m.max(a))
}

/// The one-word d trains (`bl` ≤ 64 slots) of every row of replica `replica`'s sample, whose
/// d is `d`: row i's bits are the slots `Stream::bernoulli_bits(snap(a·|d_i|), bl)` would set
/// on its `UPDATE` stream (`keyed`), 0 without a train (a zero probability has threshold 0).
/// Empty (each row then draws its own from its stream, [`row_d_train`]) unless the sample is
/// sparse: at least [`DRAWN_D_ROWS`] rows, fewer than half of them expected to have a train
/// (Σ min(1, p_d·bl)). A row's stream is then opened only after a train with a bit. Rows that
/// mostly have a train draw it from their own stream, whose words go on to their noise (drawn
/// here, the dense update measured 1–2% slower). Before the bound was lowered to eight rows
/// and the x trains of a sample without d bits were skipped, a six-row convolution (5,760
/// patches a batch) had measured 10% slower with its d trains drawn here.
fn d_trains(
    sc: &mut TrainScratch,
    keyed: Keyed,
    d: &[f64],
    a: f64,
    bl: usize,
    replica: usize,
    out: &mut Vec<u64>,
) {
    out.clear();
    if d.len() < DRAWN_D_ROWS {
        return;
    }
    let mut expected_rows = 0.0;
    for &dv in d {
        expected_rows += (snap(a * dv.abs()) * bl as f64).min(1.0);
    }
    if expected_rows >= 0.5 * d.len() as f64 {
        return;
    }
    sc.thresholds.resize(d.len(), 0);
    simd::bernoulli_thresholds(d, a, &mut sc.thresholds);
    sc.row_words.clear();
    sc.row_words
        .extend((0..d.len()).map(|i| keyed.row_word(replica, i as u64)));
    first_bits(keyed.key(), &sc.row_words, &sc.thresholds, bl, out);
}
