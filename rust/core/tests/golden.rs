//! Golden vectors, generated with NumPy 2.4 (`numpy.random.Philox`) for the raw words and
//! uniforms, and with the ziggurat of rng_scheme 2 for the normals (mirrored in
//! pulsetrain.reference); the same numbers are pinned in tests/test_rng.py.

use pulsetrain_core::rng::{philox4x64_10, Stream};

const KEY: [u64; 2] = [0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210];
const CTR: [u64; 4] = [0, 7, (2 << 32) | 0xb, 0x1 | (3 << 8)];

#[test]
fn raw_words_equal_numpy_philox() {
    let want: [u64; 8] = [
        0x365f_3738_709b_48ce,
        0x87f5_be84_f5a2_4701,
        0x6cdc_38b1_ff41_390b,
        0xac2a_5f09_733f_b16f,
        0xb873_5360_4975_8ebe,
        0x2816_662d_177d_07e0,
        0xb8fc_bc68_aa12_b1cb,
        0xbb83_b2e7_44c9_f4e5,
    ];
    let mut s = Stream::with_counter(KEY, CTR);
    let got: Vec<u64> = (0..8).map(|_| s.next_u64()).collect();
    assert_eq!(got, want);
    // The stream addressed by (tick 7, replica 2, row 11, tag 1, sample 3) is the same one.
    let mut t = Stream::open(KEY, 7, 2, 11, 1, 3);
    assert_eq!(t.next_u64(), want[0]);
    // Block 1 is the counter incremented once, as NumPy does before each block.
    assert_eq!(
        philox4x64_10([1, 7, (2 << 32) | 0xb, 0x1 | (3 << 8)], KEY)[0],
        want[0]
    );
}

#[test]
fn uniforms_equal_numpy_random() {
    let want: [f64; 4] = [
        0.212_390_376_357_331_27,
        0.531_093_509_159_867_4,
        0.425_235_312_897_034_2,
        0.672_521_533_782_172_6,
    ];
    let mut s = Stream::with_counter(KEY, CTR);
    for w in want {
        assert_eq!(s.uniform().to_bits(), w.to_bits());
    }
}

#[test]
fn normals_are_frozen() {
    let want: [f64; 4] = [
        0.460_185_204_806_714_2,
        -0.114_313_573_818_803_51,
        -0.955_750_210_721_054_1,
        1.446_236_549_565_833_6,
    ];
    let mut s = Stream::with_counter(KEY, CTR);
    for w in want {
        assert_eq!(s.normal().to_bits(), w.to_bits());
    }
}
