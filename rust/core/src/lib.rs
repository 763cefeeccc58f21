//! pulsetrain-core: the numeric engine of pulsetrain, with no Python in it.
//!
//! RNG ([`rng`]), response families ([`family`]), device and update-mode configuration
//! ([`spec`]), device variation ([`variation`]), pulses ([`pulse`]), replica-batched tiles
//! ([`tile`]) with the three update modes ([`update`]), calibration ([`calibration`]) and the
//! periphery ([`periphery`]); [`par`] alone decides serial or parallel, and the private
//! `simd` module alone picks the CPU's vector instructions (the same bits on every target).
//! Every kernel is deterministic for any number of rayon threads (shared/DESIGN.md §2).
//! docs/KERNEL_SPEC.md writes down the spec dicts, the stream layout and the draw order.
#![forbid(unsafe_code)]

pub mod calibration;
pub mod error;
pub mod family;
pub mod par;
pub mod periphery;
pub mod pulse;
pub mod rng;
mod simd;
pub mod spec;
pub mod tile;
pub mod update;
pub mod variation;

pub use error::CoreError;
pub use family::{Family, FAMILY_NAMES};
pub use par::Par;
pub use periphery::{BoundManagement, IoSpec, NoiseManagement};
pub use rng::{Stream, RNG_SCHEME, TAGS};
pub use spec::{
    C2cMode, DeviceSpec, ExpectedParams, PulseCountParams, Rounding, StochasticParams, UpdateMode,
    UPDATE_KINDS,
};
pub use tile::{Phase, Tile, UpdateStats};
pub use variation::ElemMap;
