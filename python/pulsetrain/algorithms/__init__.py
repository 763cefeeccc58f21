"""Training algorithms on analog tiles, and the shared :func:`run` loop.

Each algorithm is a frozen config of its own hyper-parameters (names as in shared/theory.md §0:
``lr``, ``lr_transfer``, ``gamma_mix``, ``transfer_every``, ...), takes its device(s) and an update
mode, and runs R replicas at once.
"""

from pulsetrain.algorithms.base import Algorithm, AlgorithmState, Callback, run
from pulsetrain.algorithms.buffered import AGAD, ChoppedTTv2, TTv2
from pulsetrain.algorithms.residual import ResidualLearning, ResidualLearningV2, TikiTaka
from pulsetrain.algorithms.sgd import AnalogSGD, DigitalSGD
from pulsetrain.algorithms.tracking import ERIDER, RIDER, ERIDERBuffered
from pulsetrain.algorithms.two_stage import TwoStage

__all__ = [
    "AGAD",
    "ERIDER",
    "RIDER",
    "Algorithm",
    "AlgorithmState",
    "AnalogSGD",
    "Callback",
    "ChoppedTTv2",
    "DigitalSGD",
    "ERIDERBuffered",
    "ResidualLearning",
    "ResidualLearningV2",
    "TTv2",
    "TikiTaka",
    "TwoStage",
    "run",
]
