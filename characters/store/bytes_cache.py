"""A bounded in-process cache of files that never change (content-addressed uploads): least
recently used out first, bounded by the total of their bytes; files above a size cap are not
kept. Thread-safe (gunicorn's threads share it); each process has its own.

A name's bytes never change, they only go away: `forget(name)` drops one, and a read that
began before any `forget` is not kept (it may hold the bytes of a name deleted meanwhile).
"""

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class CachedFile:
    data: bytes
    content_type: str | None


class BytesCache:
    def __init__(self, max_bytes: int, max_file_bytes: int):
        self.max_bytes = max(max_bytes, 0)
        self.max_file_bytes = min(max_file_bytes, self.max_bytes)
        self.total_bytes = 0
        self._files: OrderedDict[str, CachedFile] = OrderedDict()
        self._lock = threading.Lock()
        self._forgotten = 0  # forget() and clear() calls so far

    def __len__(self) -> int:
        return len(self._files)

    def get(self, name: str) -> CachedFile | None:
        with self._lock:
            file = self._files.get(name)
            if file is not None:
                self._files.move_to_end(name)
            return file

    def token(self) -> int:
        """Taken before reading a file from the storage, handed to `put` after."""
        return self._forgotten

    def put(self, name: str, file: CachedFile, token: int) -> None:
        size = len(file.data)
        if size > self.max_file_bytes:
            return
        with self._lock:
            if token != self._forgotten or name in self._files:
                return  # something was deleted since the read began: it may be this name
            self._files[name] = file
            self.total_bytes += size
            while self.total_bytes > self.max_bytes:
                _, dropped = self._files.popitem(last=False)
                self.total_bytes -= len(dropped.data)

    def forget(self, name: str) -> None:
        with self._lock:
            self._forgotten += 1
            if (file := self._files.pop(name, None)) is not None:
                self.total_bytes -= len(file.data)

    def clear(self) -> None:
        with self._lock:
            self._forgotten += 1
            self._files.clear()
            self.total_bytes = 0
