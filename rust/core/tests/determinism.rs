//! Same seed ⇒ bit-identical tiles for 1, 2, 3 and 8 threads, in every update mode; replica r
//! of an R-replica tile equals a one-replica tile with `replica_offset = r`.

use ndarray::Array3;
use pulsetrain_core::{
    C2cMode, DeviceSpec, ExpectedParams, Family, Par, Phase, PulseCountParams, Rounding,
    StochasticParams, Tile, UpdateMode,
};

fn device() -> DeviceSpec {
    DeviceSpec {
        family: Family::SoftBounds {
            alpha_up: 1.1,
            alpha_down: 0.9,
        },
        lo: -1.0,
        hi: 1.0,
        dw_min: 0.01,
        dw_min_std: 0.3,
        c2c: C2cMode::Additive,
        dw_min_dtod: 0.2,
        dw_min_dtod_log_normal: false,
        up_down: 0.0,
        up_down_dtod: 0.05,
        w_max_dtod: 0.1,
        w_min_dtod: 0.1,
        reference_mean: 0.05,
        reference_std: 0.02,
        subtract_symmetry_point: true,
    }
}

fn modes() -> Vec<UpdateMode> {
    vec![
        UpdateMode::Expected(ExpectedParams { noise: true }),
        UpdateMode::PulseCount(PulseCountParams {
            max_bl: 20,
            rounding: Rounding::Stochastic,
            aggregate: true,
        }),
        UpdateMode::PulseCount(PulseCountParams {
            max_bl: 20,
            rounding: Rounding::Ceil,
            aggregate: false,
        }),
        UpdateMode::StochasticPulse(StochasticParams {
            desired_bl: 31,
            update_management: true,
            update_bl_management: true,
            fixed_bl: true,
            um_grad_scale: 1.0,
            aggregate: true,
            aggregate_samples: 1,
        }),
        UpdateMode::StochasticPulse(StochasticParams {
            desired_bl: 100,
            update_management: false,
            update_bl_management: false,
            fixed_bl: true,
            um_grad_scale: 1.0,
            aggregate: false,
            aggregate_samples: 1,
        }),
        // Windows of 2 samples over calls of 5: a window cut short at the end of each call.
        UpdateMode::StochasticPulse(StochasticParams {
            desired_bl: 31,
            update_management: true,
            update_bl_management: true,
            fixed_bl: true,
            um_grad_scale: 1.0,
            aggregate: true,
            aggregate_samples: 2,
        }),
    ]
}

/// A cheap deterministic input generator (no RNG crate needed).
fn input(shape: (usize, usize, usize), seed: u64) -> Array3<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array3::from_shape_fn(shape, |_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    })
}

fn run(
    mode: UpdateMode,
    threads: usize,
    replicas: usize,
    offset: u64,
) -> (Array3<f64>, Array3<u64>) {
    let (o, i, b) = (97, 241, 5); // 3·97·241 ≥ PARALLEL_MIN_WORK: the parallel path
    assert!(3 * o * i >= pulsetrain_core::par::PARALLEL_MIN_WORK);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let par = Par::on(&pool);
    let mut t = Tile::new(device(), mode, o, i, replicas, [7, 9], offset, par).unwrap();
    for step in 0..6u64 {
        let x = input((replicas, b, i), step * 2 + 1);
        let d = input((replicas, b, o), step * 2 + 2);
        t.update(x.view(), d.view(), 0.05, Phase::Update, par)
            .unwrap();
        if !matches!(mode, UpdateMode::StochasticPulse(_)) {
            let delta = input((replicas, o, i), 100 + step).mapv(|v| 0.03 * v);
            t.apply_delta(delta.view(), Phase::Transfer, par).unwrap();
        }
    }
    (t.weights(), t.pulse_counts(Phase::Update))
}

#[test]
fn bit_identical_across_thread_counts() {
    for mode in modes() {
        let (w1, c1) = run(mode, 1, 3, 0);
        assert!(c1.iter().sum::<u64>() > 0, "{mode:?} fired no pulse");
        for threads in [2, 3, 8] {
            let (w, c) = run(mode, threads, 3, 0);
            assert_eq!(c, c1, "{mode:?} counts, {threads} threads");
            let same = w
                .iter()
                .zip(w1.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{mode:?} weights, {threads} threads");
        }
    }
}

#[test]
fn replica_equals_replica_alone() {
    // Inputs differ per replica, so build the 1-replica input from the 3-replica one.
    let mode = modes()[3];
    let (o, i, b) = (97, 241, 5); // 3·97·241 ≥ PARALLEL_MIN_WORK: the parallel path
    assert!(3 * o * i >= pulsetrain_core::par::PARALLEL_MIN_WORK);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let par = Par::on(&pool);
    let mut all = Tile::new(device(), mode, o, i, 3, [7, 9], 0, par).unwrap();
    let mut one = Tile::new(device(), mode, o, i, 1, [7, 9], 2, par).unwrap();
    for step in 0..4u64 {
        let x = input((3, b, i), step * 2 + 1);
        let d = input((3, b, o), step * 2 + 2);
        all.update(x.view(), d.view(), 0.05, Phase::Update, par)
            .unwrap();
        let x1 = x.slice(ndarray::s![2..3, .., ..]).to_owned();
        let d1 = d.slice(ndarray::s![2..3, .., ..]).to_owned();
        one.update(x1.view(), d1.view(), 0.05, Phase::Update, par)
            .unwrap();
    }
    let w_all = all.weights();
    let w_one = one.weights();
    assert_eq!(w_all.slice(ndarray::s![2..3, .., ..]), w_one);
    assert_eq!(
        all.pulse_counts(Phase::Update)
            .slice(ndarray::s![2..3, .., ..]),
        one.pulse_counts(Phase::Update)
    );
}

#[test]
fn rejected_call_changes_nothing() {
    let par = Par::serial();
    let mut t = Tile::new(device(), modes()[0], 4, 3, 2, [1, 2], 0, par).unwrap();
    let before = (t.weights(), t.tick());
    let bad = Array3::<f64>::zeros((2, 1, 4));
    let d = Array3::<f64>::zeros((2, 1, 4));
    assert!(t
        .update(bad.view(), d.view(), 0.1, Phase::Update, par)
        .is_err());
    let mut nan = Array3::<f64>::zeros((2, 4, 3));
    nan[[1, 2, 1]] = f64::NAN;
    assert!(t.apply_delta(nan.view(), Phase::Update, par).is_err());
    assert!(t
        .update(
            Array3::zeros((2, 1, 3)).view(),
            Array3::zeros((2, 1, 4)).view(),
            -1.0,
            Phase::Update,
            par
        )
        .is_err());
    assert_eq!((t.weights(), t.tick()), before);
}

#[test]
fn bounds_are_never_exceeded() {
    for mode in modes() {
        let par = Par::serial();
        let mut t = Tile::new(device(), mode, 8, 8, 2, [3, 4], 0, par).unwrap();
        for step in 0..50u64 {
            let x = input((2, 4, 8), step + 1);
            let d = input((2, 4, 8), step + 1000);
            t.update(x.view(), d.view(), 5.0, Phase::Update, par)
                .unwrap();
        }
        let p = t.physical_weights();
        let [lo, hi, _, _] = t.map_arrays();
        for ((v, l), h) in p.iter().zip(lo.iter()).zip(hi.iter()) {
            assert!(l <= v && v <= h, "{mode:?}: {l} <= {v} <= {h}");
        }
    }
}
