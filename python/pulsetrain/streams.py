"""The one table of random-stream names: spawn purposes, key indices and stream tags.

Every random number pulsetrain draws comes from a stream named here (shared/CONVENTIONS.md §6,
docs/KERNEL_SPEC.md §3). There are three namespaces, each with distinct values:

* **Spawn purposes** are the first spawn-key word under a root :class:`numpy.random.SeedSequence`:
  ``SeedSequence(root.entropy, spawn_key=(*root.spawn_key, purpose, index))``. Python-side
  generators (:func:`pulsetrain.rng.replica_generator`) and tile keys
  (:func:`pulsetrain.rng.tile_key`, purpose :data:`TILE`) are derived this way.
* **Key indices** are tile indices reserved for Philox keys that belong to no tile:
  ``tile_key(root, NOISE_KEY_INDEX)`` keys the problems' gradient-noise streams,
  ``tile_key(root, CHOPPER_KEY_INDEX)`` the E-RIDER chopper streams and
  ``tile_key(root, MIXED_PRECISION_KEY_INDEX)`` the mixed-precision rounding and row draws. They
  sit above every real tile index (tiles count from 0 and stay below ``1 << 20``).
* **Stream tags** select a stream under one Philox key inside the Rust core (``rng.rs``,
  ``mod tag``), and in the NumPy twin that mirrors it; :data:`TAGS` lists them by their Rust
  names, for comparison with ``pulsetrain._core.TAGS``.

Changing any value here changes results: it needs a new ``rng_scheme`` and new golden vectors.

Examples
--------
>>> TAGS["UPDATE"], TAG_UPDATE
(1, 1)
>>> len(set(SPAWN_PURPOSES.values())) == len(SPAWN_PURPOSES)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "CHOPPER_KEY_INDEX",
    "KEY_INDICES",
    "LAYER",
    "MIXED_PRECISION_KEY_INDEX",
    "NOISE_KEY_INDEX",
    "PURPOSE_DATA",
    "PURPOSE_INIT",
    "PURPOSE_NOISE_KEY",
    "PURPOSE_ORDER",
    "PURPOSE_TEACHER",
    "SPAWN_PURPOSES",
    "TAGS",
    "TAG_AGGREGATE",
    "TAG_BACKWARD",
    "TAG_CALIBRATION",
    "TAG_CHOPPER",
    "TAG_CONSTRUCTION",
    "TAG_FORWARD",
    "TAG_PROBLEM",
    "TAG_READ",
    "TAG_TRAIN_X",
    "TAG_UPDATE",
    "TILE",
]

# --------------------------------------------------------------------------- spawn purposes

PURPOSE_DATA: Final = 1
"""Per-replica problem data (targets, design matrices): ``replica_generator(root, 1, r)``."""
PURPOSE_NOISE_KEY: Final = 2
"""Reserved for the gradient-noise key of problems (the key itself is drawn with
:data:`NOISE_KEY_INDEX`)."""
PURPOSE_INIT: Final = 11
"""Initial weights of a layer, per replica (under a layer's or a run's root)."""
PURPOSE_ORDER: Final = 12
"""Sample order (the per-epoch permutation) of a classifier run, per replica."""
PURPOSE_TEACHER: Final = 13
"""Teacher network of the teacher-student data set."""
LAYER: Final = 0x1A7E
"""Spawn-key word of a layer's tiles: ``(*root.spawn_key, LAYER, layer_index)``."""
TILE: Final = 0x7117E
"""Spawn-key word that marks tile keys: ``(*root.spawn_key, TILE, tile_index)``."""

SPAWN_PURPOSES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "DATA": PURPOSE_DATA,
        "NOISE_KEY": PURPOSE_NOISE_KEY,
        "INIT": PURPOSE_INIT,
        "ORDER": PURPOSE_ORDER,
        "TEACHER": PURPOSE_TEACHER,
        "LAYER": LAYER,
        "TILE": TILE,
    }
)
"""Every first spawn-key word under a root, by name; the values are distinct."""

# --------------------------------------------------------------------------- key indices

NOISE_KEY_INDEX: Final = 1 << 20
"""Tile index whose key drives the problems' gradient-noise streams (tag :data:`TAG_PROBLEM`)."""
CHOPPER_KEY_INDEX: Final = (1 << 20) + 1
"""Tile index whose key drives the E-RIDER chopper streams (tag :data:`TAG_CHOPPER`)."""
MIXED_PRECISION_KEY_INDEX: Final = (1 << 20) + 2
"""Tile index whose key drives MixedPrecision's stochastic rounding and random row starts
(tag :data:`TAG_UPDATE`; tick 2k for step k's rounding, 2k + 1 for its row start)."""

KEY_INDICES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "NOISE": NOISE_KEY_INDEX,
        "CHOPPER": CHOPPER_KEY_INDEX,
        "MIXED_PRECISION": MIXED_PRECISION_KEY_INDEX,
    }
)
"""Every reserved key index, by name; the values are distinct and above every tile index."""

# --------------------------------------------------------------------------- stream tags

TAG_CONSTRUCTION: Final = 0
"""Device-to-device maps, drawn once at construction."""
TAG_UPDATE: Final = 1
"""Per-row update randomness: d trains, rounding, cycle-to-cycle noise."""
TAG_TRAIN_X: Final = 2
"""Per-column x trains of the stochastic pulse update."""
TAG_READ: Final = 3
"""Noisy reads."""
TAG_FORWARD: Final = 4
"""Forward-pass periphery noise."""
TAG_BACKWARD: Final = 5
"""Backward-pass periphery noise."""
TAG_CALIBRATION: Final = 6
"""Calibration (zero-shift) pulses."""
TAG_PROBLEM: Final = 7
"""Per-replica noise of problems (gradient noise)."""
TAG_CHOPPER: Final = 8
"""Per-replica chopper signs of E-RIDER."""
TAG_AGGREGATE: Final = 9
"""End-of-window normals of the stochastic update's windowed sampler (sample: the window)."""

TAGS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "CONSTRUCTION": TAG_CONSTRUCTION,
        "UPDATE": TAG_UPDATE,
        "TRAIN_X": TAG_TRAIN_X,
        "READ": TAG_READ,
        "FORWARD": TAG_FORWARD,
        "BACKWARD": TAG_BACKWARD,
        "CALIBRATION": TAG_CALIBRATION,
        "PROBLEM": TAG_PROBLEM,
        "CHOPPER": TAG_CHOPPER,
        "AGGREGATE": TAG_AGGREGATE,
    }
)
"""Every stream tag of the core, by its Rust name (``rng.rs``, ``mod tag``)."""
