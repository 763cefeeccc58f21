"""Seeds, tile keys and per-replica generators (shared/CONVENTIONS.md §6; KERNEL_SPEC §3).

Every stream is derived from one root :class:`numpy.random.SeedSequence` by spawn keys, never by
arithmetic on seeds. The spawn purposes, key indices and stream tags live in
:mod:`pulsetrain.streams`.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from pulsetrain._validation import InstanceOf, Integral, parameter_error, validate_args
from pulsetrain.streams import TILE

__all__ = ["as_seed_sequence", "replica_generator", "tile_key"]

_ROOT: Final = InstanceOf((np.random.SeedSequence,))
_INDEX: Final = Integral(0, None)


def as_seed_sequence(
    rng: int | np.integer[Any] | np.random.SeedSequence | np.random.Generator | None,
) -> np.random.SeedSequence:
    """Turn the public ``rng=`` argument into a root :class:`~numpy.random.SeedSequence`.

    Parameters
    ----------
    rng : int, SeedSequence, Generator or None
        ``None`` draws fresh OS entropy (recorded in ``.entropy``); an int ``>= 0`` is the
        entropy itself (``0`` is an ordinary seed, not "random"); a SeedSequence is returned
        unchanged; a Generator is advanced by four uint64 draws that become the entropy.

    Returns
    -------
    numpy.random.SeedSequence
        The root of the run's seed tree.

    Raises
    ------
    ParameterError
        If ``rng`` is a negative int, a bool or of another type.

    Examples
    --------
    >>> as_seed_sequence(1234).entropy
    1234
    """
    if rng is None:
        return np.random.SeedSequence()
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        words = rng.integers(0, 2**64 - 1, size=4, dtype=np.uint64, endpoint=True)
        return np.random.SeedSequence([int(x) for x in words])
    allowed = "None, an int >= 0, a numpy SeedSequence or a numpy Generator"
    if isinstance(rng, bool | np.bool_) or not isinstance(rng, int | np.integer) or rng < 0:
        raise parameter_error("rng", "as_seed_sequence", allowed, rng)
    return np.random.SeedSequence(int(rng))


@validate_args(root=_ROOT, index=_INDEX)
def tile_key(root: np.random.SeedSequence, index: int) -> tuple[int, int]:
    """Return the 128-bit Philox key of tile ``index`` (KERNEL_SPEC §3).

    ``SeedSequence(root.entropy, spawn_key=(*root.spawn_key, TILE, index))
    .generate_state(2, np.uint64)``.

    Parameters
    ----------
    root : numpy.random.SeedSequence
        The run's root, from :func:`as_seed_sequence`.
    index : int
        Tile index, ``>= 0``.

    Returns
    -------
    tuple of int
        ``(k0, k1)``, each in ``[0, 2**64)``.

    Raises
    ------
    ParameterError
        If ``root`` is not a SeedSequence or ``index`` is not an int ``>= 0``.

    Examples
    --------
    >>> k0, k1 = tile_key(as_seed_sequence(0), 0)
    >>> 0 <= k0 < 2**64 and 0 <= k1 < 2**64
    True
    """
    ss = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, TILE, index))
    k0, k1 = ss.generate_state(2, np.uint64)
    return int(k0), int(k1)


@validate_args(root=_ROOT, purpose=_INDEX, replica=_INDEX)
def replica_generator(
    root: np.random.SeedSequence, purpose: int, replica: int
) -> np.random.Generator:
    """Return the Python-side generator of one (purpose, replica) pair.

    The generator is ``Generator(Philox(SeedSequence(root.entropy,
    spawn_key=(*root.spawn_key, purpose, replica))))``, so replica ``r`` gets the same stream
    whatever the number of replicas in the run.

    Parameters
    ----------
    root : numpy.random.SeedSequence
        The run's root, from :func:`as_seed_sequence`.
    purpose : int
        Stream purpose (e.g. problem data, gradient noise), an int ``>= 0`` other than
        :data:`TILE`.
    replica : int
        Global replica index, ``>= 0``.

    Returns
    -------
    numpy.random.Generator
        A Philox-backed generator.

    Raises
    ------
    ParameterError
        If ``root`` is not a SeedSequence, ``purpose`` is negative or equal to :data:`TILE`, or
        ``replica`` is negative.

    Examples
    --------
    >>> g = replica_generator(as_seed_sequence(0), purpose=1, replica=3)
    >>> type(g.bit_generator).__name__
    'Philox'
    """
    if purpose == TILE:
        raise parameter_error(
            "purpose", "replica_generator", f"an int >= 0 other than TILE={TILE}", purpose
        )
    return _replica_generator(root, purpose, replica)


def _replica_generator(
    root: np.random.SeedSequence, purpose: int, replica: int
) -> np.random.Generator:
    """:func:`replica_generator` without its argument checks, for callers that made them.

    A sweep's problem draws one generator per replica; the checks were half of its cost.
    """
    ss = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, purpose, replica))
    return np.random.Generator(np.random.Philox(ss))
