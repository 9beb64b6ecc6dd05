"""Open EvaluateStream calls per caller, and idle ones ended, so no caller can hold the others out.

Each open stream holds a server thread, and `max_streams` bounds them per process; without more,
one caller opening that many streams and sending nothing would lock every other caller out. So
a caller (its authenticated identity; its peer address without mutual TLS) may hold at most
`max_streams_per_caller` open streams, and a stream that receives no message for
`stream_idle_timeout` seconds is cancelled (its client sees CANCELLED) by one watchdog thread.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import grpc

from tamis.service.server.logs import logger


class TooManyStreams(Exception):
    """The caller holds its limit of open streams already."""


class OpenStream:
    """One open stream: when it last received a message, and how to end it."""

    __slots__ = ("caller", "cancel", "idle", "last_seen")

    def __init__(self, caller: str, cancel: Callable[[], object]) -> None:
        self.caller = caller
        self.cancel = cancel
        self.last_seen = time.monotonic()
        self.idle = False

    def touch(self) -> None:
        self.last_seen = time.monotonic()


class StreamGuard:
    """Counts open streams per caller and cancels those idle too long; thread-safe."""

    def __init__(self, per_caller: int, idle_timeout: float) -> None:
        self.per_caller = per_caller
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._open: set[OpenStream] = set()
        self._per_caller: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="tamis-stream-watchdog", daemon=True)
        self._watchdog.start()
        self._log = logger()

    def open(self, caller: str, context: grpc.ServicerContext) -> OpenStream:
        """Register a stream of `caller` (released when the call ends); raises TooManyStreams."""
        with self._lock:
            if self._per_caller[caller] >= self.per_caller:
                raise TooManyStreams(
                    f"this caller has {self.per_caller} streams open already, its limit; "
                    "close one or retry later"
                )
            stream = OpenStream(caller, context.cancel)
            self._open.add(stream)
            self._per_caller[caller] += 1
        if not context.add_callback(lambda: self._close(stream)):
            self._close(stream)
        return stream

    def stop(self) -> None:
        self._stopping.set()
        self._watchdog.join()

    def _close(self, stream: OpenStream) -> None:
        with self._lock:
            if stream in self._open:
                self._open.discard(stream)
                self._per_caller[stream.caller] -= 1
                if not self._per_caller[stream.caller]:
                    del self._per_caller[stream.caller]

    def _watch(self) -> None:
        while not self._stopping.wait(min(1.0, self.idle_timeout / 4)):
            deadline = time.monotonic() - self.idle_timeout
            with self._lock:
                idle = [stream for stream in self._open if stream.last_seen < deadline and not stream.idle]
                for stream in idle:
                    stream.idle = True
            for stream in idle:
                self._log.info("stream idle; cancelled", caller=stream.caller, idle_seconds=self.idle_timeout)
                stream.cancel()
