"""Shared fixtures of the synthetic-set tests: a few heads, built once per session."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.synthetic.procedural.head import SyntheticHead, build_head
from facevlm.synthetic.procedural.identity import sample_identity


def make_head(seed: int = 0, gender: str = "F", resolution: int = 4000) -> SyntheticHead:
    return build_head(sample_identity(np.random.default_rng(seed), gender), resolution)


@pytest.fixture(scope="session")
def head() -> SyntheticHead:
    return make_head(0, "F")


@pytest.fixture(scope="session")
def heads() -> list[SyntheticHead]:
    return [make_head(seed, gender) for seed, gender in ((1, "F"), (2, "M"), (3, "M"))]
