//! pulsetrain-core: the numeric engine of pulsetrain, with no Python in it.
//!
//! RNG ([`rng`]), response families ([`response`]), device and update-mode configuration
//! ([`spec`]) and replica-batched tiles with the three update modes ([`tile`]). Every kernel is
//! deterministic for any number of rayon threads (shared/DESIGN.md §2).
#![forbid(unsafe_code)]

pub mod error;
pub mod periphery;
pub mod response;
pub mod rng;
pub mod spec;
pub mod tile;

pub use error::CoreError;
pub use periphery::{BoundManagement, IoSpec, NoiseManagement};
pub use response::Family;
pub use rng::{Stream, RNG_SCHEME};
pub use spec::{C2cMode, DeviceSpec, Rounding, UpdateMode};
pub use tile::{ElemMap, Phase, Tile, UpdateStats};
