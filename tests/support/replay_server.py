"""A local stand-in for the retired Marvel Comics API, serving recorded characters.

A real HTTP server on 127.0.0.1 (an ephemeral port) in a daemon thread::

    with ReplayServer.from_recordings(path, public_key="pub", private_key="priv") as server:
        server.fail("503", times=2, offset=100)   # scripted faults, consumed in order
        ... MarvelClient("pub", "priv", server.base_url) ...
        server.requests                           # what was asked (path, params, status)

``GET {base_url}/characters?limit&offset&ts&apikey&hash`` answers like Marvel did: any
limit (1..100) and offset over the recorded records, ``data.total``/``count``/``results``,
the md5 hash checked (401 with Marvel's ``InvalidCredentials`` body), limit > 100 -> 409.

Faults (:meth:`ReplayServer.fail`): ``"429"`` (with ``Retry-After``), ``"500"``, ``"503"``,
``"slow"`` (answers after ``delay`` seconds, beyond a client's timeout), ``"truncated"``
(a 200 whose JSON body is cut in half, with a matching Content-Length), ``"drop"`` (closes
the connection without answering), ``"cut"`` (announces the full length, sends half).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ATTRIBUTION = "Data provided by Marvel. © 2022 MARVEL"
FAULT_KINDS = {"429", "500", "503", "slow", "truncated", "drop", "cut"}


def load_records(path: Path | str) -> tuple[list, int | None]:
    """All raw character objects from a directory of envelopes / an envelope / an array
    (gzip or not), in ``data.offset`` order, and the largest recorded ``data.total``."""
    path = Path(path)
    files = sorted(path.glob("*.json*")) if path.is_dir() else [path]
    chunks = []
    recorded_total = None
    for file in files:
        raw = file.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        if isinstance(body, list):
            chunks.append((0, body))
            continue
        data = body["data"]
        chunks.append((data.get("offset", 0), data["results"]))
        recorded_total = max(recorded_total or 0, data.get("total") or 0)
    chunks.sort(key=lambda chunk: chunk[0])
    records = [record for _offset, results in chunks for record in results]
    return records, recorded_total


@dataclass
class Fault:
    kind: str
    times: int = 1
    offset: int | None = None  # only for requests at this offset (None: any)
    retry_after: str = "1"
    delay: float = 1.0


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    status: int | None  # None when the connection was dropped
    fault: str | None = None


@dataclass
class _State:
    records: list
    total: int
    public_key: str
    private_key: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server_version = "MarvelReplay/1.0"
    protocol_version = "HTTP/1.1"
    state: _State  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send_json(self, status: int, body: object, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _refuse(self, params: dict, status: int, body: dict) -> None:
        self._record(params, status)
        self._send_json(status, body)

    def _record(self, params: dict, status: int | None, fault: str | None = None) -> None:
        with self.state.lock:
            self.state.requests.append(Seen(self.path, params, status, fault))

    def _take_fault(self, offset: int | None) -> Fault | None:
        with self.state.lock:
            for fault in self.state.faults:
                if fault.times > 0 and (fault.offset is None or fault.offset == offset):
                    fault.times -= 1
                    return fault
        return None

    def do_GET(self) -> None:
        state = self.state
        url = urlsplit(self.path)
        params = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if not url.path.rstrip("/").endswith("/v1/public/characters"):
            self._record(params, 404)
            self._send_json(404, {"code": "ResourceNotFound", "message": "Not found"})
            return

        # Authentication, as Marvel checked it.
        apikey, ts, given_hash = params.get("apikey"), params.get("ts"), params.get("hash")
        if not apikey:
            self._refuse(
                params, 409, {"code": "MissingParameter", "message": "You must provide a user key."}
            )
            return
        if not ts or not given_hash:
            missing = "timestamp" if not ts else "hash"
            self._refuse(
                params,
                409,
                {"code": "MissingParameter", "message": f"You must provide a {missing}."},
            )
            return
        if apikey != state.public_key:
            self._refuse(
                params,
                401,
                {"code": "InvalidCredentials", "message": "The passed API key is invalid."},
            )
            return
        expected = hashlib.md5(  # Marvel's auth scheme
            (ts + state.private_key + state.public_key).encode(), usedforsecurity=False
        ).hexdigest()
        if given_hash != expected:
            self._refuse(
                params,
                401,
                {
                    "code": "InvalidCredentials",
                    "message": "That hash, timestamp and key combination is invalid.",
                },
            )
            return

        try:
            limit = int(params.get("limit", "20"))
            offset = int(params.get("offset", "0"))
        except ValueError:
            self._refuse(
                params, 409, {"code": 409, "status": "You must pass an integer limit and offset."}
            )
            return
        if limit > 100:
            self._refuse(
                params, 409, {"code": 409, "status": "You may not request more than 100 items."}
            )
            return
        if limit < 1:
            self._refuse(
                params,
                409,
                {"code": 409, "status": "You must pass an integer limit greater than 0."},
            )
            return
        if offset < 0:
            self._refuse(params, 409, {"code": 409, "status": "You must pass a positive offset."})
            return

        results = state.records[offset : offset + limit]
        body = {
            "code": 200,
            "status": "Ok",
            "copyright": "© 2022 MARVEL",
            "attributionText": ATTRIBUTION,
            "attributionHTML": f'<a href="http://marvel.com">{ATTRIBUTION}</a>',
            "etag": hashlib.sha1(json.dumps(results).encode(), usedforsecurity=False).hexdigest(),
            "data": {
                "offset": offset,
                "limit": limit,
                "total": state.total,
                "count": len(results),
                "results": results,
            },
        }
        fault = self._take_fault(offset)
        if fault is None:
            self._record(params, 200)
            self._send_json(200, body)
            return
        self._apply(fault, params, body)

    def _apply(self, fault: Fault, params: dict, body: dict) -> None:
        kind = fault.kind
        if kind == "429":
            self._record(params, 429, kind)
            message = "You have exceeded your rate limit.  Please try again later."
            self._send_json(
                429, {"code": 429, "status": message}, {"Retry-After": fault.retry_after}
            )
        elif kind in ("500", "503"):
            self._record(params, int(kind), kind)
            self._send_json(int(kind), {"code": int(kind), "status": "Internal error"})
        elif kind == "slow":
            self._record(params, 200, kind)
            time.sleep(fault.delay)
            with contextlib.suppress(OSError):  # the client gave up first: that was the point
                self._send_json(200, body)
        elif kind == "truncated":
            payload = json.dumps(body).encode()
            payload = payload[: len(payload) // 2]
            self._record(params, 200, kind)
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        elif kind == "cut":
            payload = json.dumps(body).encode()
            self._record(params, 200, kind)
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif kind == "drop":
            self._record(params, None, kind)
            self.close_connection = True
            # Nothing written: the client sees the connection closed without a response.
        else:  # pragma: no cover - guarded by ReplayServer.fail
            raise AssertionError(kind)


class ReplayServer:
    """Serves ``records`` as ``/v1/public/characters`` on 127.0.0.1 (see the module doc)."""

    def __init__(
        self,
        records: list,
        *,
        public_key: str = "test-public",
        private_key: str = "test-private",
        total: int | None = None,
    ) -> None:
        self.state = _State(
            records=list(records),
            total=len(records) if total is None else total,
            public_key=public_key,
            private_key=private_key,
        )
        handler = type("ReplayHandler", (_Handler,), {"state": self.state})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @classmethod
    def from_recordings(cls, path: Path | str, *, recorded_total: bool = False, **kwargs):
        """Serve the records under ``path``; ``recorded_total=True`` reports the recordings'
        own ``data.total`` (1561 for the shared subset of 1,050) instead of their count."""
        records, total = load_records(path)
        if recorded_total:
            kwargs.setdefault("total", total)
        return cls(records, **kwargs)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1/public"

    @property
    def requests(self) -> list[Seen]:
        with self.state.lock:
            return list(self.state.requests)

    @property
    def records(self) -> list:
        return self.state.records

    def set_records(self, records: list, total: int | None = None) -> None:
        with self.state.lock:
            self.state.records = list(records)
            self.state.total = len(records) if total is None else total

    def fail(
        self,
        kind: str,
        *,
        times: int = 1,
        offset: int | None = None,
        retry_after: str | int = "1",
        delay: float = 1.0,
    ) -> Fault:
        """Script a fault for the next ``times`` matching requests (at ``offset``, if given)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        fault = Fault(kind, times, offset, str(retry_after), delay)
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
            self.state.requests.clear()

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
