"""Graceful stop on SIGTERM / SIGUSR1 (SLURM time limit or preemption).

The handler only records the request; the training loop checks it after each iteration, saves
``checkpoint_latest.pt`` and exits with :data:`segmamba.train.PREEMPTED_EXIT_CODE`.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopRequest:
    """Records a stop signal; install with :meth:`install`, restore previous handlers with :meth:`restore`."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        """True once a stop signal has arrived."""
        return self.signal_name is not None

    def _handle(self, signum, frame) -> None:
        self.signal_name = signal.Signals(signum).name

    def install(self) -> StopRequest:
        """Install the handlers (only possible in the main thread; elsewhere this is a no-op)."""
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handlers that were active before :meth:`install`."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
