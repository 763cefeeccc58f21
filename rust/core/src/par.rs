//! The one place that decides serial or parallel, and the fixed (replica, row-block) task split
//! (shared/CONVENTIONS.md §5): work is cut by data, never by thread count, and results come back
//! in task order, so no value depends on the scheduler.
//!
//! Kernels get a [`Par`] handle: the pool the caller allows, if any. Each entry point states the
//! size of its work and [`Par::run`] installs the pool only when the work is worth it
//! ([`worth_parallel`]) and the pool has two or more threads; small calls, and every call
//! given a pool of one thread, run on the caller's thread, which spares waking the pool (idle
//! workers spin on `sched_yield` against the Python thread; a hand-over to a one-thread pool
//! cost the 784-256-128-10 MLP a fifth of its training time). Every row draws from its own
//! streams, so the result is the same either way.

use rayon::prelude::*;
use rayon::ThreadPool;

/// Rows per rayon task, at least: a constant, never derived from the thread count.
pub const ROWS_PER_TASK: usize = 16;

/// Below this much work (elements × samples) a call runs serially on the calling thread: waking
/// a pool costs more than it saves. Every row has its own streams, so results are identical.
/// 2^16: at 2^14, the default `pulsetrain run` (8 replicas of 5×20, many small calls) spent a
/// third of its time handing calls to the pool and in the idle workers' spinning (20.5 → 9.1 s
/// with this and the cached thread count).
pub const PARALLEL_MIN_WORK: usize = 1 << 16;

/// Elements a task of [`for_each_row`] holds at least, when its rows are long.
const ELEMS_PER_TASK: usize = ROWS_PER_TASK * 64;

/// True when work of this size is worth spreading over threads (see [`PARALLEL_MIN_WORK`]).
pub fn worth_parallel(work: usize) -> bool {
    work >= PARALLEL_MIN_WORK
}

/// The thread pool a kernel may use, if any: the single serial-or-parallel decision point.
#[derive(Clone, Copy, Debug)]
pub struct Par<'a> {
    pool: Option<&'a ThreadPool>,
}

impl<'a> Par<'a> {
    /// Never parallel: everything runs on the calling thread.
    pub fn serial() -> Par<'static> {
        Par { pool: None }
    }

    /// Parallel on `pool` for work worth it ([`worth_parallel`]), else on the calling thread.
    pub fn on(pool: &'a ThreadPool) -> Par<'a> {
        Par { pool: Some(pool) }
    }

    /// Runs `f(parallel)`: inside the pool with `parallel = true` when there is a pool of two or
    /// more threads and `work` is worth spreading, else on this thread with `parallel = false`. `f` must give
    /// the same result for both (every kernel does: its tasks are fixed by data). Never panics
    /// unless `f` does.
    pub fn run<T, F>(self, work: usize, f: F) -> T
    where
        F: FnOnce(bool) -> T + Send,
        T: Send,
    {
        // A pool of one thread would only hand the work to its worker and wake it (a futex
        // wake and a wait per call): the caller's thread runs it instead.
        match self.pool {
            Some(pool) if pool.current_num_threads() > 1 && worth_parallel(work) => {
                pool.install(|| f(true))
            }
            _ => f(false),
        }
    }
}

/// Calls `f(g, row)` for every row `g` of `buf` (rows of `n` items; the last may be shorter), on
/// the current rayon pool when `parallel` (tasks of at least [`ROWS_PER_TASK`] rows, or of
/// about a thousand items when rows are long), else serially in row order. Nothing for `n` 0.
pub fn for_each_row<T, F>(parallel: bool, buf: &mut [T], n: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    if n == 0 {
        return;
    }
    if parallel {
        let min_rows = ELEMS_PER_TASK.div_ceil(n).clamp(1, ROWS_PER_TASK);
        buf.par_chunks_mut(n)
            .enumerate()
            .with_min_len(min_rows)
            .for_each(|(g, row)| f(g, row));
    } else {
        buf.chunks_mut(n).enumerate().for_each(|(g, row)| f(g, row));
    }
}

/// `f(t)` for `t` in `0..n`, collected in index order, on the current pool when `parallel`.
pub fn map_indices<T, F>(parallel: bool, n: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    map_indices_with(parallel, n, || (), |(), t| f(t))
}

/// `f(scratch, t, &mut slots[t])` for every slot `t`: [`map_indices_with`] filling slots in
/// place (so that their buffers are reused), on the current pool when `parallel`. The same
/// rules for the scratch.
pub fn fill_with<S, T, I, F>(parallel: bool, slots: &mut [T], init: I, f: F)
where
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut T) + Sync + Send,
{
    if parallel {
        slots
            .par_iter_mut()
            .enumerate()
            .for_each_init(&init, |s, (t, slot)| f(s, t, slot));
    } else {
        let mut s = init();
        for (t, slot) in slots.iter_mut().enumerate() {
            f(&mut s, t, slot);
        }
    }
}

/// [`map_indices`] with a scratch value per task (`init()` per rayon task, or one for the
/// serial pass), given to `f` first. As for [`map_row_blocks_with`], the scratch must only
/// hold buffers reused between indices, never a value a result depends on.
pub fn map_indices_with<S, T, I, F>(parallel: bool, n: usize, init: I, f: F) -> Vec<T>
where
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize) -> T + Sync + Send,
{
    if parallel {
        (0..n)
            .into_par_iter()
            .map_init(&init, |s, t| f(s, t))
            .collect()
    } else {
        let mut s = init();
        (0..n).map(|t| f(&mut s, t)).collect()
    }
}

/// Maps `f(first_global_row, state_block, counter_block, map_block)` over blocks of `rows`
/// consecutive rows of width `i` (the last block may be shorter; `rows` 1 maps single rows), on
/// the current rayon pool when `parallel` (at least [`ROWS_PER_TASK`] rows per task) or
/// serially; the results come back in block order either way.
pub fn map_row_blocks<M, T, F>(
    parallel: bool,
    i: usize,
    rows: usize,
    state: &mut [f64],
    counters: &mut [u64],
    maps: &[M],
    f: F,
) -> Vec<T>
where
    M: Sync,
    T: Send,
    F: Fn(usize, &mut [f64], &mut [u64], &[M]) -> T + Sync + Send,
{
    map_row_blocks_with(
        parallel,
        i,
        rows,
        state,
        counters,
        maps,
        || (),
        |(), g, p, c, m| f(g, p, c, m),
    )
}

/// [`map_row_blocks`] with a scratch value per task: `init()` makes one for each rayon task
/// (or one for the whole serial pass) and `f` gets it first. The scratch must only hold
/// buffers reused between rows, never a value a result depends on: how many tasks rayon makes
/// depends on the scheduler.
#[allow(clippy::too_many_arguments)]
pub fn map_row_blocks_with<M, S, T, I, F>(
    parallel: bool,
    i: usize,
    rows: usize,
    state: &mut [f64],
    counters: &mut [u64],
    maps: &[M],
    init: I,
    f: F,
) -> Vec<T>
where
    M: Sync,
    T: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [f64], &mut [u64], &[M]) -> T + Sync + Send,
{
    let n = (i * rows).max(1);
    if parallel {
        state
            .par_chunks_mut(n)
            .zip(counters.par_chunks_mut(n))
            .zip(maps.par_chunks(n))
            .enumerate()
            .with_min_len(ROWS_PER_TASK.div_ceil(rows))
            .map_init(&init, |s, (k, ((p, c), m))| f(s, k * rows, p, c, m))
            .collect()
    } else {
        let mut s = init();
        state
            .chunks_mut(n)
            .zip(counters.chunks_mut(n))
            .zip(maps.chunks(n))
            .enumerate()
            .map(|(k, ((p, c), m))| f(&mut s, k * rows, p, c, m))
            .collect()
    }
}

/// Row `g` of a row-major buffer with rows of length `i` (empty if out of range).
#[inline]
pub fn row<T>(buf: &[T], g: usize, i: usize) -> &[T] {
    buf.get(g * i..(g + 1) * i).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    }

    /// Work worth spreading goes to a pool of two threads, but never to a pool of one: that
    /// would only hand it from the caller's thread to the pool's worker.
    #[test]
    fn a_pool_of_one_thread_runs_on_the_callers_thread() {
        let (one, two) = (pool(1), pool(2));
        let caller = std::thread::current().id();
        let on = |p: &ThreadPool, work: usize| {
            Par::on(p).run(work, |parallel| {
                (parallel, std::thread::current().id() == caller)
            })
        };
        assert_eq!(on(&one, PARALLEL_MIN_WORK), (false, true));
        assert_eq!(on(&two, PARALLEL_MIN_WORK), (true, false));
        assert_eq!(on(&two, PARALLEL_MIN_WORK - 1), (false, true));
        assert!(!Par::serial().run(usize::MAX, |p| p));
    }
}
