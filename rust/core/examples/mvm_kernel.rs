//! Times the forward and backward MVM kernels (`periphery::mvm_batch`) on one thread, without
//! Python: a profiling aid, not a benchmark of record. Prints the fastest call's µs and a checksum of the
//! output bits, which must not change when a kernel is only made faster.
//!
//!     cargo run --release -p pulsetrain-core --example mvm_kernel

use pulsetrain_core::periphery::mvm_batch;
use std::time::Instant;

fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

fn main() {
    // (rows, cols, batch): the FCN's three layers at batch 10, LeNet-5's tiles at their patch
    // counts (batch 10 images) and its linear layers.
    let shapes = [
        (256, 784, 10),
        (128, 256, 10),
        (10, 128, 10),
        (16, 25, 5760),
        (32, 400, 640),
        (128, 512, 10),
        (512, 512, 100),
    ];
    // `ONLY=k` runs the k-th (shape, direction) pair alone (for perf).
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|v| v.parse().ok());
    let mut total: u64 = 0;
    for (k, &(rows, cols, b)) in shapes.iter().enumerate() {
        for transpose in [false, true] {
            if only.is_some_and(|o| o != 2 * k + usize::from(transpose)) {
                continue;
            }
            let p = values(rows * cols, 1);
            let r = values(rows * cols, 2);
            let (len_x, len_y) = if transpose {
                (rows, cols)
            } else {
                (cols, rows)
            };
            let ut = values(len_x * b, 3);
            let mut yt = vec![0.0; len_y * b];
            let flops = (rows * cols * b) as f64;
            let reps = ((2e8 / flops) as usize).clamp(3, 2000);
            mvm_batch(&p, &r, rows, cols, transpose, b, &ut, &mut yt, false);
            // The fastest call: robust to the other processes of a shared machine.
            let mut dt = f64::INFINITY;
            for _ in 0..reps {
                let t0 = Instant::now();
                mvm_batch(&p, &r, rows, cols, transpose, b, &ut, &mut yt, false);
                dt = dt.min(t0.elapsed().as_secs_f64());
            }
            let sum = yt.iter().fold(0u64, |h, v| {
                h.rotate_left(5) ^ v.to_bits().wrapping_mul(0x100_0000_01B3)
            });
            total ^= sum.rotate_left(rows as u32 + cols as u32);
            println!(
                "{rows:4}x{cols:4} b {b:5} {}: {:9.1} µs  {:5.2} GMAC/s  check {sum:016x}",
                if transpose { "backward" } else { "forward " },
                dt * 1e6,
                flops / dt / 1e9
            );
        }
    }
    println!("all {total:016x}");
}
