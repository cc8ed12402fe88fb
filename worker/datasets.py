"""A worker's recently used datasets, decoded, so the next job on one skips the load.

Keyed by what changes whenever a dataset's content could: its id, ``created_at`` and the
byte sizes of its stored arrays (read without loading them). A dataset deleted and made
again gets a new id; any rewrite of its arrays changes the key; either way a stale copy
is never served: it is a miss, and the old entry ages out. Bounded in bytes
(``BACKPROP_DATASET_CACHE_BYTES``; least recently used out first); an array larger than
the whole budget is not kept. Arrays handed out are read-only, so no job can change
what the next one gets.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray]


class DatasetCache:
    """Least-recently-used decoded ``(inputs, targets)``, at most ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, Arrays] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Arrays | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: Hashable, inputs: np.ndarray, targets: np.ndarray) -> Arrays:
        """Keep the arrays (read-only from now on) if they fit; returns them."""
        for array in (inputs, targets):
            array.flags.writeable = False
        size = inputs.nbytes + targets.nbytes
        if size > self.max_bytes:
            return inputs, targets
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[0].nbytes + old[1].nbytes
        while self._entries and self.bytes + size > self.max_bytes:
            _, (x, y) = self._entries.popitem(last=False)
            self.bytes -= x.nbytes + y.nbytes
        self._entries[key] = (inputs, targets)
        self.bytes += size
        return inputs, targets
