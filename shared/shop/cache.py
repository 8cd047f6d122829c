"""In-function caches of hot reads: what a warm function instance read a moment ago, served
again until it is `seconds` old. Per instance (module memory), so a change is seen everywhere
within the TTL and nowhere sooner: only reads the shop allows to lag (a product page, a
sale's standing, the bestsellers) use one. Writes never consult a cache.

The one implementation of "read at most every N seconds" for the shop's services.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class TtlCache[K, V]:
    """At most `most` entries, the least recently read dropped first."""

    def __init__(self, most: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._most = most
        self.hits = 0
        self.misses = 0

    def get(self, key: K, seconds: float, load: Callable[[], V]) -> V:
        """The value read less than `seconds` ago, else `load()` (remembered; an error is not).
        `seconds` <= 0: always `load()`."""
        if seconds > 0:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and time.monotonic() - entry[0] < seconds:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return entry[1]
                self.misses += 1
        value = load()
        if seconds > 0:
            with self._lock:
                self._entries[key] = (time.monotonic(), value)
                self._entries.move_to_end(key)
                while len(self._entries) > self._most:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0
