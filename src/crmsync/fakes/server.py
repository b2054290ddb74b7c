"""A real HTTP/1.1 server on loopback that hosts one fake CRM app.

The server owns what every fake shares: request parsing (query strings and bodies in PHP bracket
form, JSON, forms), keep-alive, fault injection, request statistics, the ``/_fake/*`` admin routes
and a clean stop. Each fake CRM is an *app* with a ``handle(request) -> Response`` method.

Loopback only: the bind address is checked, so no test or demo can expose a fake to a network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import ssl
import sys
import tempfile
import threading
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from .faults import FaultPlan, FaultSpecError

if TYPE_CHECKING:
    from .tls import FakeCA
from crmsync.phpquery import parse_pairs


class BadBody(ValueError):
    """The request body could not be decoded as the content type it claims."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, Any]
    query_pairs: list[tuple[str, str]]
    headers: Message
    body: bytes
    client_ip: str
    host: str
    scheme: str = "http"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadBody(f"body is not valid JSON: {exc}") from None

    def form(self) -> dict[str, Any]:
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadBody(f"body is not UTF-8: {exc}") from None
        return parse_pairs(parse_qsl(text, keep_blank_values=True))

    def body_params(self) -> Any:
        """The body decoded by its content type (JSON, form); JSON is also sniffed when untyped."""
        ctype = self.content_type
        if not self.body:
            return None
        if ctype == "application/x-www-form-urlencoded":
            return self.form()
        if ctype.endswith("json") or self.body.lstrip()[:1] in (b"{", b"["):
            return self.json()
        if ctype.startswith("multipart/form-data"):
            return _multipart(self)
        return self.form()

    def bearer(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, content_type: str = "application/json",
             headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return cls(status, body, {"Content-Type": f"{content_type}; charset=utf-8", **(headers or {})})

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", {"Location": location})

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


class FakeApp(Protocol):
    name: str

    def handle(self, request: Request) -> Response: ...

    def fault_response(self, status: int, request: Request) -> Response: ...

    def admin(self, request: Request, action: str) -> Response | None: ...

    def reset(self) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.by_status: Counter[int] = Counter()
        self.by_route: Counter[str] = Counter()
        self.log: deque[tuple[str, str, int]] = deque(maxlen=20000)

    def record(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self.total += 1
            self.by_status[status] += 1
            self.by_route[f"{method} {route}"] += 1
            self.log.append((method, route, status))

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_status.clear()
            self.by_route.clear()
            self.log.clear()

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "by_route": dict(sorted(self.by_route.items())),
            }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    tls: ssl.SSLContext | None = None


class FakeServer:
    """Run ``app`` on 127.0.0.1:``port`` (0 = a free port) in a background thread.

    Use as a context manager, or ``start()``/``stop()``; ``url`` is the base URL once started.
    """

    def __init__(self, app: FakeApp, host: str = "127.0.0.1", port: int = 0,
                 faults: FaultPlan | None = None, verbose: bool = False, tls: bool | Path = False) -> None:
        if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
            raise ValueError(f"fake CRMs only listen on loopback addresses, not {host!r}")
        self.app = app
        self.faults = faults or FaultPlan()
        self.stats = Stats()
        self.verbose = verbose
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((host, port), _make_handler(self))
        self._thread: threading.Thread | None = None
        self.cert_path: Path | None = None
        self._tls_tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca: FakeCA | None = None
        if tls:
            from .tls import FakeCA

            if tls is True:
                self._tls_tmp = tempfile.TemporaryDirectory(prefix="crmsync-fake-tls-")
            self.ca = FakeCA(Path(self._tls_tmp.name if self._tls_tmp else tls))
            self.cert_path = self.ca.cert_path
            self._httpd.tls = self.ca.context_for("127.0.0.1")

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.cert_path is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> FakeServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"fake-{self.app.name}-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tls_tmp is not None:
            self._tls_tmp.cleanup()

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop()`` is called from elsewhere (e.g. a signal)."""
        try:
            self._httpd.serve_forever(poll_interval=0.1)
        finally:
            self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def writes(self, request: Request) -> list[str]:
        """The names of the writes ``request`` makes, as its app sees them (empty: a read); for faults
        that hit writes only. An app without the hook treats every non-GET request as a write."""
        hook = getattr(self.app, "writes", None)
        if hook is not None:
            try:
                return list(hook(request))
            except Exception:  # a body the app cannot read writes nothing; its handler will say why
                return []
        return [request.path] if request.method not in ("GET", "HEAD", "OPTIONS") else []

    # -- admin routes shared by every fake ------------------------------------------------------
    def _admin(self, request: Request, action: str) -> Response:
        if action == "stats" and request.method == "GET":
            return Response.json(200, {**self.stats.as_dict(), "faults_injected": dict(self.faults.injected)})
        if action == "stats" and request.method == "DELETE":  # a benchmark phase counts only its own requests
            self.stats.reset()
            return Response.json(200, self.stats.as_dict())
        if action == "state" and request.method == "GET":
            return Response.json(200, self.app.snapshot())
        if action == "faults":
            if request.method == "GET":
                return Response.json(200, {"rules": self.faults.rules()})
            if request.method == "DELETE":
                self.faults.clear()
                return Response.json(200, {"rules": []})
            body = request.json() or {}
            try:
                if "spec" in body:
                    self.faults.add_spec(str(body["spec"]))
                else:
                    self.faults.add(body.get("kind", ""), rate=body.get("rate"), count=body.get("count"),
                                    path=body.get("path"), hang_seconds=float(body.get("hang_seconds", 30)),
                                    when=body.get("when"))
            except FaultSpecError as exc:
                return Response.json(400, {"error": str(exc)})
            return Response.json(200, {"rules": self.faults.rules()})
        if action == "reset" and request.method == "POST":
            self.app.reset()
            self.faults.clear()
            self.stats.reset()
            return Response.json(200, self.app.snapshot())
        result = self.app.admin(request, action)
        if result is None:
            return Response.json(404, {"error": f"unknown admin route /_fake/{action} for {request.method}"})
        return result


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # loopback + small responses: avoid the 40 ms delayed-ACK stall
        server_version = f"crmsync-fake-{server.app.name}"
        sys_version = ""

        def setup(self) -> None:
            # With TLS on, one port serves both HTTPS and plain HTTP (the latter for CONNECT, as an
            # HTTPS proxy is addressed): a TLS ClientHello starts with byte 0x16.
            self.tls_failed = False
            ctx = server._httpd.tls
            if ctx is not None:
                self.request.settimeout(10)
                try:
                    if self.request.recv(1, socket.MSG_PEEK) == b"\x16":
                        self.request = ctx.wrap_socket(self.request, server_side=True)
                except (OSError, ssl.SSLError):
                    self.tls_failed = True  # a client that does not trust us: not a server error
                self.request.settimeout(None)
            super().setup()

        def handle(self) -> None:
            if self.tls_failed:
                return
            with contextlib.suppress(ssl.SSLError, ConnectionResetError, BrokenPipeError):
                super().handle()

        def log_message(self, format: str, *args: Any) -> None:
            if server.verbose:
                sys.stderr.write(f"{self.address_string()} - {format % args}\n")

        def do_GET(self) -> None:
            self._dispatch()

        def do_CONNECT(self) -> None:
            """Act as the HTTPS host the client asked a proxy for: terminate TLS here, never forward."""
            if server.ca is None:
                self.send_error(501, "CONNECT needs a fake started with TLS (--tls)")
                return
            host = self.path.rsplit(":", 1)[0]
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            try:
                conn = server.ca.context_for(host).wrap_socket(self.connection, server_side=True)
            except (OSError, ssl.SSLError):
                self.close_connection = True
                return
            self.connection = conn
            self.rfile = conn.makefile("rb", -1)
            self.wfile = _SocketWriter(conn)
            self.close_connection = False  # go on reading requests inside the tunnel

        do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

        def _read_body(self) -> bytes:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            body = self._read_body()
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            request = Request(
                method=self.command,
                path=parts.path or "/",
                query=parse_pairs(pairs),
                query_pairs=pairs,
                headers=self.headers,
                body=body,
                client_ip=self.client_address[0],
                host=self.headers.get("Host") or f"{server.host}:{server.port}",
                scheme=scheme,
            )
            if request.path.startswith("/_fake/"):
                try:
                    response = server._admin(request, request.path[len("/_fake/"):].strip("/"))
                except Exception as exc:  # an admin call with a bad body should say so, not hang up
                    response = Response.json(400, {"error": f"{type(exc).__name__}: {exc}"})
                self._send(response)
                return
            writes = server.writes(request) if server.faults.targets_writes else []
            fault = server.faults.pick(request.path, writes, parts.query)
            if fault is not None and not fault.applies_first:
                if fault.kind in ("hang", "drop"):
                    self._hang_or_drop(request, fault)
                    return
                status = fault.status or 502  # truncate-before: a gateway's error page, cut off
                response = server.app.fault_response(status, request)
                server.stats.record(request.method, request.path, response.status)
                self._send(response, truncate=fault.kind == "truncate")
                return
            response = self._run(request)
            if fault is not None and fault.kind in ("hang", "drop"):  # -after: the write is applied
                self._hang_or_drop(request, fault)
                return
            if fault is not None and fault.status is not None:  # -after: applied, the answer replaced
                response = server.app.fault_response(fault.status, request)
            server.stats.record(request.method, request.path, response.status)
            self._send(response, truncate=fault is not None and fault.kind == "truncate")

        def _run(self, request: Request) -> Response:
            try:
                return server.app.handle(request)
            except BadBody as exc:
                response = server.app.fault_response(400, request)
                response.headers["X-Fake-Reason"] = str(exc)[:200]
                return response
            except Exception:
                traceback.print_exc()
                return server.app.fault_response(500, request)

        def _hang_or_drop(self, request: Request, fault: Any) -> None:
            if fault.kind == "hang":
                server._stopping.wait(fault.hang_seconds)
            self._drop()
            server.stats.record(request.method, request.path, 0)

        def _send(self, response: Response, truncate: bool = False) -> None:
            try:
                self.send_response(response.status)
                for k, v in response.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(response.body)))
                if truncate:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(response.body[: len(response.body) // 2] if truncate else response.body)
                self.wfile.flush()
                if truncate:
                    self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _drop(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


class _SocketWriter:
    """Unbuffered writes that always send everything (as socketserver's own writer does)."""

    closed = False

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes) -> int:
        self._sock.sendall(data)
        return len(data)

    def flush(self) -> None:
        pass


def _multipart(request: Request) -> dict[str, Any]:
    """Decode a multipart/form-data body into PHP-bracket params (files are not supported)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    head = f"Content-Type: {request.headers.get('Content-Type')}\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + request.body)
    pairs: list[tuple[str, str]] = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            pairs.append((str(name), part.get_content() if part.get_content_maintype() == "text"
                          else part.get_payload(decode=True).decode("utf-8", "replace")))
    return parse_pairs(pairs)
