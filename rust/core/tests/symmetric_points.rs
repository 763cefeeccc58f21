//! `Tile::symmetric_points` (blocked, vectorised bisection) gives, for 1 and 2 threads, each
//! element's `Family::symmetric_point` bit for bit, for every family, with device-to-device
//! spreads and an element count that leaves short blocks.

use pulsetrain_core::{
    C2cMode, DeviceSpec, ExpectedParams, Family, Par, Tile, UpdateMode, FAMILY_NAMES,
};

fn device(family: Family) -> DeviceSpec {
    DeviceSpec {
        family,
        lo: -1.0,
        hi: 1.0,
        dw_min: 0.01,
        dw_min_std: 0.0,
        c2c: C2cMode::Additive,
        dw_min_dtod: 0.3,
        dw_min_dtod_log_normal: true,
        up_down: 0.05,
        up_down_dtod: 0.2,
        w_max_dtod: 0.3,
        w_min_dtod: 0.3,
        reference_mean: 0.0,
        reference_std: 0.0,
        subtract_symmetry_point: false,
    }
}

#[test]
fn symmetric_points_are_the_scalar_bisection_for_any_thread_count() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a rayon pool");
    for name in FAMILY_NAMES {
        let family = Family::from_parts_with_nodes::<pulsetrain_core::CoreError, _, _>(
            name,
            |key| {
                Ok(match key {
                    "sp" => 0.1,
                    "c" => 0.3,
                    "alpha_up" => 1.2,
                    "alpha_down" => 0.8,
                    "gamma_up" => 1.5,
                    _ => 2.5,
                })
            },
            |key| {
                Ok(if key == "piecewise_up" {
                    vec![1.6, 1.3, 0.9, 0.6, 0.1]
                } else {
                    vec![0.2, 0.7, 1.0, 1.2, 1.5]
                })
            },
        )
        .unwrap();
        // 3·21·37 = 2331 elements: parallel on 2 threads (work 64·2331 ≥ 2^16), and blocks of
        // 1024 and 16 with remainders.
        let tile = Tile::new(
            device(family),
            UpdateMode::Expected(ExpectedParams { noise: false }),
            21,
            37,
            3,
            [7, 11],
            0,
            Par::serial(),
        )
        .unwrap();
        let [lo, hi, up, dn] = tile.map_arrays();
        let serial = tile.symmetric_points(Par::serial());
        let two = tile.symmetric_points(Par::on(&pool));
        for (k, ((((l, h), u), d), (s, t))) in lo
            .iter()
            .zip(&hi)
            .zip(&up)
            .zip(&dn)
            .zip(serial.iter().zip(&two))
            .enumerate()
        {
            let want = family.symmetric_point(*l, *h, *u, *d).to_bits();
            assert_eq!(s.to_bits(), want, "{name}, element {k}, serial");
            assert_eq!(t.to_bits(), want, "{name}, element {k}, 2 threads");
        }
    }
}
