"""An injected `sleep` for the live venue's waits (Retry-After, polling)."""

from __future__ import annotations

import time


class Sleeps:
    """The injected sleep: records every wait; really sleeps at most `cap_s`."""

    def __init__(self, cap_s: float = 0.0) -> None:
        self.calls: list[float] = []
        self.cap_s = cap_s

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.cap_s:
            time.sleep(min(seconds, self.cap_s))
