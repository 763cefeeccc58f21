//! Times the update kernels on one thread, without Python: a profiling aid, not a benchmark of
//! record (those are in benches/, as ratios). Prints ms per sample and a checksum of the weights,
//! which must not change when a kernel is only made faster.
//!
//!     [THREADS=n] cargo run --release -p pulsetrain-core --example update_kernel \
//!         [stochastic|count|expected|apply_count|apply_expected|rng] [mult|add]
//!
//! `rng` times the random-number floor: Philox4x32-10 words computed `PHILOX_LANES` blocks at a
//! time by the vectorised generator (nothing else), and `Stream::fill_normals`.

use ndarray::Array3;
use pulsetrain_core::rng::{philox4x32_10_lanes, Stream, PHILOX_LANES};
use pulsetrain_core::{
    C2cMode, DeviceSpec, ExpectedParams, Family, Par, Phase, PulseCountParams, Rounding,
    StochasticParams, Tile, UpdateMode,
};
use std::time::Instant;

fn input(shape: (usize, usize, usize), seed: u64, normal: bool) -> Array3<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut u = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    Array3::from_shape_fn(shape, |_| {
        if normal {
            // Irwin–Hall approximation of N(0, 0.5²): enough for a load test.
            0.5 * ((0..12).map(|_| u()).sum::<f64>() - 6.0)
        } else {
            2.0 * u() - 1.0
        }
    })
}

/// ns per 32-bit Philox word (vectorised refills, nothing else) and per `fill_normals` normal.
fn rng_floor() {
    let n: u64 = 1 << 24;
    let t = Instant::now();
    let mut acc = 0u32;
    let mut buf = [0u32; 4 * PHILOX_LANES];
    for b in (0..n / 4).step_by(PHILOX_LANES) {
        philox4x32_10_lanes(b, [1, 0], [7, 9], &mut buf);
        acc ^= buf.iter().fold(0, |a, v| a ^ v);
    }
    let word = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    let mut s = Stream::open([7, 9], 0, 0, 0, 1, 0);
    let mut out = vec![0.0; 4096];
    let t = Instant::now();
    let mut sum = 0.0;
    for _ in 0..n / 4096 {
        s.fill_normals(&mut out);
        sum += out.iter().sum::<f64>();
    }
    let normal = t.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!(
        "rng: {word:.2} ns per 32-bit Philox word, {normal:.2} ns per normal ({acc:x}, {sum:.3})"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("stochastic", String::as_str);
    if which == "rng" {
        rng_floor();
        return;
    }
    let c2c = if args.get(2).map_or("mult", String::as_str) == "add" {
        C2cMode::Additive
    } else {
        C2cMode::Multiplicative
    };
    // A third argument `agg` turns on the aggregated sampler (where exact: additive noise).
    let aggregate = args.get(3).is_some_and(|a| a == "agg");
    let dev = DeviceSpec {
        family: Family::SoftBounds {
            alpha_up: 1.0,
            alpha_down: 1.0,
        },
        lo: -1.0,
        hi: 1.0,
        dw_min: 1e-3,
        dw_min_std: 0.3,
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
    };
    let mode = match which {
        "apply_count" => UpdateMode::PulseCount(PulseCountParams {
            max_bl: 1,
            rounding: Rounding::Ceil,
            aggregate,
        }),
        "count" => UpdateMode::PulseCount(PulseCountParams {
            max_bl: 31,
            rounding: Rounding::Stochastic,
            aggregate,
        }),
        "apply_expected" | "expected" => UpdateMode::Expected(ExpectedParams { noise: false }),
        _ => UpdateMode::StochasticPulse(StochasticParams {
            desired_bl: 31,
            update_management: true,
            update_bl_management: false,
            fixed_bl: true,
            um_grad_scale: 1.0,
            aggregate,
            aggregate_samples: std::env::var("WINDOW")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
        }),
    };
    let (o, i, b) = (512, 512, 100);
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let par = Par::on(&pool);
    pool.install(|| {
        if which.starts_with("apply") {
            // The floor rows of benches/bench_update.py: Δ = 1e−3 everywhere, no cycle noise.
            let dev = DeviceSpec {
                dw_min_std: 0.0,
                dw_min_dtod: 0.0,
                up_down: 0.0,
                up_down_dtod: 0.0,
                w_max_dtod: 0.0,
                w_min_dtod: 0.0,
                ..dev
            };
            let mut t = Tile::new(dev, mode, o, i, 1, [7, 9], 0, par).unwrap();
            let delta = Array3::from_elem((1, o, i), 1e-3);
            let mut times = Vec::new();
            for _ in 0..20 {
                let t0 = Instant::now();
                t.apply_delta(delta.view(), Phase::Update, par).unwrap();
                times.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            let w = t.weights();
            let bits = w.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
                (h ^ v.to_bits()).wrapping_mul(0x100_0000_01b3)
            });
            println!("{which}: ms/call median {:.3} hash {bits:016x}", times[10]);
            return;
        }
        let mut t = Tile::new(dev, mode, o, i, 1, [7, 9], 0, par).unwrap();
        let x = input((1, b, i), 1, false);
        let d = input((1, b, o), 2, true);
        let mut times = Vec::new();
        for _ in 0..4 {
            let t0 = Instant::now();
            t.update(x.view(), d.view(), 0.01, Phase::Update, par)
                .unwrap();
            times.push(t0.elapsed().as_secs_f64() * 1e3 / b as f64);
        }
        let w = t.weights();
        let sum: f64 = w.iter().sum();
        let bits = w.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
            (h ^ v.to_bits()).wrapping_mul(0x100_0000_01b3)
        });
        let pulses: u64 = t.pulse_counts(Phase::Update).iter().sum();
        println!(
            "{which}: ms/sample {:?}  pulses/elem/sample {:.3}  sum {sum:.12} hash {bits:016x}",
            times
                .iter()
                .map(|v| (v * 1000.0).round() / 1000.0)
                .collect::<Vec<_>>(),
            pulses as f64 / (4 * b * o * i) as f64
        );
    });
}
