"""Results computed from the database, kept in this process under a key that names the version of their
inputs (engine.carbon_data.versions, the organization's audit chain position). The key is read from the
database on every call, so a write committed by any process is seen by the next read everywhere; only the
values live here, in a small LRU. One build per key: callers that arrive during a build wait for it rather
than build it too. Some failures may be kept as results, so that a key that cannot be built does not
rebuild on every call."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Value = TypeVar("Value")


class VersionedCache(Generic[Value]):
    def __init__(self, *, max_entries: int, keep_errors: tuple[type[Exception], ...] = ()) -> None:
        self._max_entries = max_entries
        self._keep_errors = keep_errors
        self._entries: OrderedDict[Hashable, Value | Exception] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _get(self, key: Hashable) -> Value | Exception | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def get(self, key: Hashable, build: Callable[[], Value]) -> Value:
        """The value kept under ``key``, or ``build()`` kept under it (a kept error is raised again)."""
        found = self._get(key)
        if found is None:
            with self._lock:
                building = self._building.setdefault(key, threading.Lock())
            with building:
                found = self._get(key)
                if found is None:
                    try:
                        found = build()
                    except self._keep_errors as error:
                        found = error
                    with self._lock:
                        self._entries[key] = found
                        while len(self._entries) > self._max_entries:
                            self._entries.popitem(last=False)
            with self._lock:
                self._building.pop(key, None)
        if isinstance(found, Exception):
            raise found.with_traceback(None)  # a kept exception must not grow a traceback per raise
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
