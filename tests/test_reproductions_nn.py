"""Smoke test of examples/nn_headlines.py (theory.md §5 H4, H6, H8, H9 at reduced scale).

Each headline's core function runs two of its entries for a few steps with R = 2 on the FCN
(fed the small Digits set, so no MNIST data is needed and the run is fast) and the output
structure is checked. No claim is asserted from such a tiny run: the numbers and the
verdicts of the real runs are in docs/REPRODUCTIONS.md.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pulsetrain.problems import Digits

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def nn() -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module("nn_headlines")
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.parametrize("name", ["h4", "h6", "h8", "h9"])
def test_headline_core_runs_and_reports(nn: ModuleType, name: str) -> None:
    full = nn.HEADLINES[name](columns=15)
    labels = [e.label for e in full.entries]
    assert len(set(labels)) == len(labels)
    for worse, better in full.orderings:  # every claimed ordering names two entries
        assert worse in labels
        assert better in labels
    assert all(e.paper for e in full.entries)
    pair = full.orderings[0]
    small = dataclasses.replace(
        full,
        entries=[e for e in full.entries if e.label in pair],
        orderings=[pair],
    )
    out = nn.run_headline(
        small, steps=3, replicas=2, record_every=3, eval_samples=10, dataset=Digits()
    )
    assert list(out["rows"]) == [lab for lab in labels if lab in pair]
    for row in out["rows"].values():
        assert len(row["acc"]) == 2
        assert all(0.0 <= a <= 100.0 for a in row["acc"])
        assert math.isclose(row["mean"], sum(row["acc"]) / 2)
        assert math.isclose(row["se"], abs(row["acc"][0] - row["acc"][1]) / 2)
    (o,) = out["orderings"]
    a, b = (out["rows"][k] for k in pair)
    assert math.isclose(o["diff"], b["mean"] - a["mean"])
    assert o["verdict"] in ("holds (> 2 SE)", "holds (within 2 SE)", "fails")
    assert o["verdict"].startswith("holds") == (o["diff"] > 0)
    for c in out["curves"].values():
        assert c["steps"] == [0, 3]
        assert len(c["acc"]) == 2
