"""The seconds a prediction spends in each stage (read, render, encode, classify), as the app
and ``facevlm predict --verbose`` show them."""

from __future__ import annotations

import time

from facevlm.inference.prediction import STAGES


class StageClock:
    """Accumulates the seconds spent in each stage."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def run(self, stage: str, function, *args):
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            self.seconds[stage] += time.perf_counter() - start

    def timings(self) -> dict[str, float]:
        return {**self.seconds, "total": sum(self.seconds.values())}
