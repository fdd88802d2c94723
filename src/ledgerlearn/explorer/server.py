"""The explorer's web server: the page, its static files and a read-only JSON API.

Python's ``http.server.ThreadingHTTPServer``, bound to 127.0.0.1 only (a run's ledger is
nobody else's business). GET only. Every API answer is JSON; errors are JSON too
(``{"error": "..."}``) with a 4xx status. The API:

=========================================  ==================================================
``/api/version``                           ledger height and run-file times (the page polls it)
``/api/summary``                           the run's ``summary.json`` (404 while the run goes on)
``/api/overview``                          height, peer copies, audit, models with rules,
                                           committee, status and rounds
``/api/updates?model=ID[&since=H]``        every update of a model with parents, reports and
                                           verdict (``since``: those written from block H on;
                                           ``&view=dag``: only what the DAG draws)
``/api/update?model=ID&id=U``              one update in full
``/api/privacy?model=ID``                  a DP model's budget (epsilon, delta) and each
                                           provider's epsilon after each of its updates
``/api/members``                           members and organizations with reports and flags
``/api/member?id=MSP/NAME``                one member's reports and updates
``/api/blocks[?before=N&limit=L]``         blocks below N, newest first, with their transactions
``/api/tx?id=TXID``                        one transaction: block, index, code
=========================================  ==================================================
"""

from __future__ import annotations

import json
import math
import mimetypes
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ledgerlearn.explorer.source import VIEWS, RunSource

HOST = "127.0.0.1"
STATIC_PACKAGE = "ledgerlearn.explorer"


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _int(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    values = query.get(name)
    if not values or values[0] == "":
        return default
    try:
        return int(values[0])
    except ValueError:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, f"{name} must be an integer; got {values[0]!r}"
        ) from None


def _required(query: dict[str, list[str]], name: str, example: str) -> str:
    values = query.get(name)
    if not values or not values[0]:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"missing query parameter {name} (e.g. {example})")
    return values[0]


def api_routes(source: RunSource) -> dict[str, Callable[[dict[str, list[str]]], Any]]:
    """Path -> handler taking the parsed query string and returning JSON-ready data."""

    def summary(_query: dict[str, list[str]]) -> Any:
        value = source.summary()
        if value is None:
            raise ApiError(HTTPStatus.NOT_FOUND,
                           f"{source.directory} has no summary.json (yet): the run writes it "
                           "when it ends")
        return value

    def updates(query: dict[str, list[str]]) -> Any:
        model = _required(query, "model", "model=demo-gossip")
        view = (query.get("view") or ["full"])[0]
        if view not in VIEWS:
            raise ApiError(HTTPStatus.BAD_REQUEST,
                           f"view must be one of {', '.join(VIEWS)}; got {view!r}")
        try:
            return source.updates(model, since=_int(query, "since", 0) or 0, view=view)
        except KeyError as exc:
            raise ApiError(HTTPStatus.NOT_FOUND, exc.args[0]) from None

    def update(query: dict[str, list[str]]) -> Any:
        model = _required(query, "model", "model=demo-gossip")
        try:
            return source.update(model, _required(query, "id", "id=<update id>"))
        except KeyError as exc:
            raise ApiError(HTTPStatus.NOT_FOUND, exc.args[0]) from None

    def privacy(query: dict[str, list[str]]) -> Any:
        try:
            return source.privacy(_required(query, "model", "model=demo-federation"))
        except KeyError as exc:
            raise ApiError(HTTPStatus.NOT_FOUND, exc.args[0]) from None

    def member(query: dict[str, list[str]]) -> Any:
        return source.member_reports(_required(query, "id", "id=Org1MSP/member0"))

    def blocks(query: dict[str, list[str]]) -> Any:
        limit = _int(query, "limit", 20) or 20
        return source.blocks(before=_int(query, "before", None), limit=max(1, min(limit, 200)))

    def tx(query: dict[str, list[str]]) -> Any:
        try:
            return source.transaction(_required(query, "id", "id=<64 hex digits>"))
        except KeyError as exc:
            raise ApiError(HTTPStatus.NOT_FOUND, exc.args[0]) from None

    return {
        "/api/version": lambda _q: source.version(),
        "/api/summary": summary,
        "/api/overview": lambda _q: source.overview(),
        "/api/updates": updates,
        "/api/update": update,
        "/api/privacy": privacy,
        "/api/members": lambda _q: source.members(),
        "/api/member": member,
        "/api/blocks": blocks,
        "/api/tx": tx,
    }


def _finite(value: Any) -> Any:
    """NaN and infinities as null: the page's JSON.parse accepts no other spelling."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_bytes(value: Any) -> bytes:
    try:
        return json.dumps(value, allow_nan=False, default=str).encode()
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False, default=str).encode()


def _static(name: str) -> bytes | None:
    """A file of the package's ``static/`` folder, or None (no path may leave it)."""
    parts = [p for p in name.split("/") if p]
    if not parts or any(p in (".", "..") or p.startswith(".") for p in parts):
        return None
    node = resources.files(STATIC_PACKAGE).joinpath("static", *parts)
    return node.read_bytes() if node.is_file() else None


def make_handler(source: RunSource) -> type[BaseHTTPRequestHandler]:
    routes = api_routes(source)

    class Handler(BaseHTTPRequestHandler):
        server_version = "ledgerlearn-explorer"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: no line per poll
            return

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path.startswith("/api/"):
                self._api(url.path, parse_qs(url.query))
                return
            name = "index.html" if url.path in ("/", "/index.html") else url.path
            if not name.startswith("/static/") and name != "index.html":
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
                return
            body = _static(name.removeprefix("/static/"))
            if body is None:
                self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
                return
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            self._send(HTTPStatus.OK, body, kind)

        def _api(self, path: str, query: dict[str, list[str]]) -> None:
            handler = routes.get(path)
            try:
                if handler is None:
                    raise ApiError(HTTPStatus.NOT_FOUND,
                                   f"no API {path}; known: {', '.join(sorted(routes))}")
                status, value = HTTPStatus.OK, handler(query)
            except ApiError as exc:
                status, value = exc.status, {"error": str(exc)}
            except Exception as exc:  # a damaged copy must not kill the server
                status = HTTPStatus.INTERNAL_SERVER_ERROR
                value = {"error": f"{type(exc).__name__}: {exc}"}
            body = _json_bytes(value)
            self._send(status, body, "application/json")

        def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

    return Handler


class ExplorerServer:
    """The explorer serving ``source`` on 127.0.0.1:``port`` (0: a free port)."""

    def __init__(self, source: RunSource, port: int = 0) -> None:
        self.source = source
        self.httpd = ThreadingHTTPServer((HOST, port), make_handler(source))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> ExplorerServer:
        """Serve in a background thread (tests, notebooks)."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True,
                                        name="explorer-http")
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ExplorerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
