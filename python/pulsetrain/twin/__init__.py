"""Plain-NumPy twin of the Rust core (the oracle of ``tests/test_twin.py``).

The modules mirror ``rust/core/src`` file for file: :mod:`~pulsetrain.twin.rng` (Philox, the
ziggurat, the stream layout), :mod:`~pulsetrain.twin.family` (spec dicts and ``q_±`` per
family), :mod:`~pulsetrain.twin.pulse` (firing pulses), :mod:`~pulsetrain.twin.update` (the
three update modes) and :mod:`~pulsetrain.twin.tile` (:class:`TwinTile`, with the
device-to-device maps, the zero-shift calibration and the periphery passes). The twin never
imports ``pulsetrain._core``; ``backend="twin"`` runs a whole training on it.
"""

from __future__ import annotations

from pulsetrain.twin.family import FAMILIES, DeviceSpec, UpdateSpec
from pulsetrain.twin.rng import (
    RNG_SCHEME,
    TAG_BACKWARD,
    TAG_CALIBRATION,
    TAG_CONSTRUCTION,
    TAG_FORWARD,
    TAG_READ,
    TAG_TRAIN_X,
    TAG_UPDATE,
    Stream,
    StreamBank,
    normals,
    philox4x32_10,
    philox_raw,
    replica_normals,
    replica_uniforms,
    stream_counters,
    stream_keys,
    tile_key,
    uniforms,
    ziggurat_normal,
)
from pulsetrain.twin.tile import PHASES, TwinTile, exact_products, gathered_residuals
from pulsetrain.twin.update import MAX_FREE_BL, UPDATE_KINDS, stochastic_pulse_parameters

__all__ = [
    "FAMILIES",
    "MAX_FREE_BL",
    "PHASES",
    "RNG_SCHEME",
    "TAG_BACKWARD",
    "TAG_CALIBRATION",
    "TAG_CONSTRUCTION",
    "TAG_FORWARD",
    "TAG_READ",
    "TAG_TRAIN_X",
    "TAG_UPDATE",
    "UPDATE_KINDS",
    "DeviceSpec",
    "Stream",
    "StreamBank",
    "TwinTile",
    "UpdateSpec",
    "exact_products",
    "gathered_residuals",
    "normals",
    "philox4x32_10",
    "philox_raw",
    "replica_normals",
    "replica_uniforms",
    "stochastic_pulse_parameters",
    "stream_counters",
    "stream_keys",
    "tile_key",
    "uniforms",
    "ziggurat_normal",
]
