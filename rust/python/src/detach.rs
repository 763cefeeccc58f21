//! The one way the bindings call a kernel: without the GIL, on the pool for `n_threads`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use pulsetrain_core::tile::Interrupt;
use pulsetrain_core::{CoreError, Par};
use pyo3::marker::Ungil;
use pyo3::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::errors::{param_err, to_py};

/// Most threads a caller may ask for.
pub(crate) const MAX_THREADS: usize = 1024;

type PoolCache = Mutex<HashMap<(usize, u32), Arc<ThreadPool>>>;

fn cache() -> &'static PoolCache {
    static CACHE: OnceLock<PoolCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The thread count used when the caller passes `None`: the machine's available parallelism,
/// asked once per process (the standard library reads the cgroup quota files on every call,
/// which cost more than a small kernel call; a forked child asks again).
pub(crate) fn default_threads() -> usize {
    static CACHED: Mutex<Option<(u32, usize)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut guard = CACHED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match *guard {
        Some((p, n)) if p == pid => n,
        _ => {
            let n = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
            *guard = Some((pid, n));
            n
        }
    }
}

/// The checked thread count for `n_threads` (None: the machine's available parallelism).
fn thread_count(n_threads: Option<i64>) -> PyResult<usize> {
    match n_threads {
        None => Ok(default_threads()),
        Some(v) if (1..=MAX_THREADS as i64).contains(&v) => Ok(v as usize),
        Some(v) => Err(param_err(
            "n_threads",
            "pulsetrain",
            "None or an int in the range [1, 1024]",
            v,
        )),
    }
}

/// The pool for `n` threads, cached by (threads, process id) so forked children rebuild theirs.
fn pool_for(n: usize) -> PyResult<Arc<ThreadPool>> {
    let key = (n, std::process::id());
    let mut guard = cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(p) = guard.get(&key) {
        return Ok(Arc::clone(p));
    }
    let mut builder = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("pulsetrain-{i}"));
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    if n >= 2 && cpus.len() == n {
        // A worker for every CPU this process may use: each stays on its own CPU. Unpinned,
        // Linux sometimes woke both workers of a call on one CPU (after the caller had been
        // busy on the other, as between a training step's NumPy work and its update) until
        // its balancer moved one: a 512×512 windowed update on two threads, each call after
        // 32 ms of Python work, took 15.7–27.3 ms (one thread: 32 ms); pinned, 15.3–17.7 ms.
        // Placement is only a hint to the scheduler: no value depends on it, and a CPU that
        // refuses it leaves the worker where it is.
        builder = builder.start_handler(move |i| {
            if let Some(&cpu) = cpus.get(i) {
                core_affinity::set_for_current(cpu);
            }
        });
    }
    let pool = builder.build().map_err(|e| {
        param_err(
            "n_threads",
            "pulsetrain",
            "a thread count the system can start",
            e.to_string(),
        )
    })?;
    let pool = Arc::new(pool);
    guard.insert(key, Arc::clone(&pool));
    Ok(pool)
}

/// Runs `f` without the GIL, handing it the pool for `n_threads` as a [`Par`]: the core's entry
/// points decide from their sizes whether to install the pool and go parallel or to run on this
/// thread (small calls would only wake the pool to spin). Results are identical either way.
pub(crate) fn run_detached<T, F>(py: Python<'_>, n_threads: Option<i64>, f: F) -> PyResult<T>
where
    F: for<'p> FnOnce(Par<'p>) -> T + Ungil + Send,
    T: Ungil + Send,
{
    let pool = pool_for(thread_count(n_threads)?)?;
    Ok(py.detach(|| f(Par::on(&pool))))
}

/// Runs a long kernel `f` as [`run_detached`] does, handing it an [`Interrupt`] that the core
/// asks between chunks: it re-takes the GIL and runs the Python signal handlers
/// (`check_signals`). A handler that raises (Ctrl-C's default `KeyboardInterrupt`) stops the
/// kernel at that chunk boundary and its exception is returned; a handler that only records
/// the signal (as `pulsetrain.run`'s first Ctrl-C does) lets the kernel go on. Core errors are
/// converted with [`to_py`].
pub(crate) fn run_interruptible<T, F>(py: Python<'_>, n_threads: Option<i64>, f: F) -> PyResult<T>
where
    F: for<'p, 's> FnOnce(Par<'p>, Interrupt<'s>) -> Result<T, CoreError> + Ungil + Send,
    T: Ungil + Send,
{
    let pool = pool_for(thread_count(n_threads)?)?;
    let mut raised: Option<PyErr> = None;
    #[allow(clippy::redundant_closure_for_method_calls)] // the method is not general over 'py
    let out = py.detach(|| {
        let mut stop = || match Python::attach(|py| py.check_signals()) {
            Ok(()) => false,
            Err(e) => {
                raised = Some(e);
                true
            }
        };
        f(Par::on(&pool), &mut stop)
    });
    out.map_err(|e| match (e, raised) {
        (CoreError::Interrupted { .. }, Some(err)) => err,
        (e, _) => to_py(e),
    })
}
