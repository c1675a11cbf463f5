"""A background thread that repeats one step until the test closes it, and fails the test if the step failed."""

from __future__ import annotations

import threading


class Repeating(threading.Thread):
    """Calls `step()` every `interval` seconds until `close()`; an exception in `step` ends the thread and is
    raised by `close`, so a broken helper fails the test instead of silently freezing what it kept in step."""

    def __init__(self, name: str, interval: float = 0.5) -> None:
        super().__init__(name=name, daemon=True)
        self._interval = interval
        self._halt = threading.Event()
        self.error: BaseException | None = None

    def step(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        try:
            while not self._halt.wait(self._interval):
                self.step()
        except BaseException as exc:
            self.error = exc

    def close(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        if self.error is not None:
            raise AssertionError(f"the {self.name} thread failed") from self.error
