"""Every kind is listed alike by Python, the Rust core and the NumPy twin (shared/LAYOUT.md).

A device family, update mode or stream tag added in one place and forgotten in another fails here,
before any numeric test runs into it.
"""

from __future__ import annotations

import pulsetrain._core as core
from pulsetrain import devices, streams, twin, updates
from pulsetrain.twin import rng as twin_rng


def test_families_agree() -> None:
    assert len(core.FAMILY_NAMES) == len(set(core.FAMILY_NAMES))
    assert set(core.FAMILY_NAMES) == set(devices.SPEC_FAMILIES)
    assert tuple(twin.FAMILIES) == tuple(core.FAMILY_NAMES)
    # Every Python family compiles to one of the core's families, and each core family is reached.
    produced = {cls.example().to_spec()["family"] for cls in devices.RESPONSE_FAMILIES.values()}
    assert produced == set(core.FAMILY_NAMES)


def test_update_kinds_agree() -> None:
    assert tuple(updates.UPDATE_MODES) == tuple(core.UPDATE_KINDS)
    assert tuple(twin.UPDATE_KINDS) == tuple(core.UPDATE_KINDS)
    for kind, cls in updates.UPDATE_MODES.items():
        assert cls.example().to_spec()["kind"] == kind


def test_stream_tags_agree() -> None:
    assert dict(streams.TAGS) == dict(core.TAGS)
    assert len(set(core.TAGS.values())) == len(core.TAGS)
    # The twin draws with the same numbers (it imports them from streams.py).
    for name, value in core.TAGS.items():
        if hasattr(twin_rng, f"TAG_{name}"):
            assert getattr(twin_rng, f"TAG_{name}") == value


def test_rng_scheme_agrees() -> None:
    assert twin_rng.RNG_SCHEME == core.rng_scheme
