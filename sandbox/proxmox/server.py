"""HTTPS front of the stand-in (stdlib server: Proxmox puts error messages in the reason phrase)
and `ProxmoxSandbox`, its lifecycle and test controls."""

from __future__ import annotations

import hmac
import json
import socket
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from ..tls import server_context
from .errors import ApiError, ConnectionReset
from .faults import Faults
from .routes import dispatch
from .state import Cluster


class ProxmoxSandbox:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, token_id: str = "root@pam!fedi",
                 token_secret: str = "sandbox-secret", nodes=("pve1",), templates: dict[int, str] | None = None,
                 state_file: Path | None = None, cert_dir: Path | None = None):
        self.host, self.port, self.token_id, self.token_secret = host, port, token_id, token_secret
        self.cert_dir = Path(cert_dir) if cert_dir else Path(tempfile.mkdtemp(prefix="proxmox-sandbox-"))
        self.cluster = Cluster(nodes, {9000: "nixos-24.11"} if templates is None else templates, token_id, state_file)
        self.faults = Faults()
        self.cert_path: Path | None = None
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> ProxmoxSandbox:
        context = server_context(self.cert_dir)
        self.cert_path = self.cert_dir / "cert.pem"
        self._server = _Server((self.host, self.port), self)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        for conn in list(self._server.connections):  # end kept-alive connections too
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def __enter__(self) -> ProxmoxSandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_latency(self, op: str, seconds: float) -> None:
        """How long a task of type `op` runs (or a synchronous call `op` takes to answer);
        "guest_agent_boot": seconds after a start before the guest agent answers;
        "guest_shutdown": seconds the guest takes to power down (a shutdown with a shorter timeout fails);
        "worker_start": seconds before a task's worker takes its locks (the clone race window)."""
        self.cluster.latency[op] = float(seconds)

    def inject_fault(self, op: str, kind: str, count: int | None = None, rate: float | None = None,
                     message: str | None = None, seconds: float = 1.0) -> None:
        self.faults.inject(op, kind, count=count, rate=rate, message=message, seconds=seconds)

    def clear_faults(self) -> None:
        self.faults.clear()

    def inventory(self) -> list[dict]:
        return self.cluster.inventory()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, sandbox: ProxmoxSandbox):
        self.sandbox, self.connections = sandbox, set()
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        pass  # a client that went away or failed the TLS handshake


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"
    timeout = 60
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.request)
        self.request.do_handshake()

    def finish(self) -> None:
        self.server.connections.discard(self.request)
        super().finish()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        sandbox: ProxmoxSandbox = self.server.sandbox
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/sandbox/"):
            return self._control(sandbox, url.path, body)
        try:
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            if "json" in self.headers.get("Content-Type", ""):
                params.update({k: str(int(v)) if isinstance(v, bool) else str(v) for k, v in json.loads(body or b"{}").items()})
            else:
                params.update(parse_qsl(body.decode(), keep_blank_values=True))
            if not url.path.startswith("/api2/json/"):
                raise ApiError(501, f"Method '{self.command} {url.path}' not implemented")
            self._authenticate(sandbox)
            data = dispatch(sandbox.cluster, sandbox.faults, self.command, url.path[len("/api2/json"):], params)
            self._reply(200, "OK", {"data": data})
        except ConnectionReset:
            self.close_connection = True
            self.request.shutdown(socket.SHUT_RDWR)
        except ApiError as e:
            body = None if e.status in (401, 596) else {"data": None, "message": e.message + "\n"}
            if e.errors:
                body["errors"] = e.errors
            self._reply(e.status, e.message, body)
        except Exception as e:  # a bug in the stand-in: answered the way PVE answers any failure
            traceback.print_exc()
            self._reply(500, f"sandbox internal error: {e!r}", {"data": None})

    do_POST = do_PUT = do_DELETE = do_GET

    def _authenticate(self, sandbox: ProxmoxSandbox) -> None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("PVEAPIToken="):
            raise ApiError(401, "No ticket")
        token, _, secret = header.removeprefix("PVEAPIToken=").partition("=")
        if not (hmac.compare_digest(token.encode(), sandbox.token_id.encode())
                and hmac.compare_digest(secret.encode(), sandbox.token_secret.encode())):
            raise ApiError(401, "authentication failure")

    def _control(self, sandbox: ProxmoxSandbox, path: str, body: bytes) -> None:
        """Loopback test aid: GET /sandbox/inventory, POST|DELETE /sandbox/faults, POST /sandbox/latency."""
        try:
            args = json.loads(body or b"{}")
            if (self.command, path) == ("GET", "/sandbox/inventory"):
                return self._reply(200, "OK", sandbox.inventory())
            if (self.command, path) == ("POST", "/sandbox/faults"):
                sandbox.inject_fault(**args)
            elif (self.command, path) == ("DELETE", "/sandbox/faults"):  # answers what struck so far
                sandbox.clear_faults()
                return self._reply(200, "OK", {"taken": dict(sandbox.faults.taken)})
            elif (self.command, path) == ("POST", "/sandbox/latency"):
                for op, seconds in ([(args["op"], args["seconds"])] if "op" in args else args.items()):
                    sandbox.set_latency(op, seconds)
            else:
                return self._reply(404, "Not Found", {"error": f"no such control endpoint: {self.command} {path}"})
            self._reply(200, "OK", {"ok": True})
        except (TypeError, ValueError, KeyError) as e:
            self._reply(400, "Bad Request", {"error": str(e)})

    def _reply(self, status: int, reason: str, body) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        reason = reason.splitlines()[0] if reason else ""
        self.send_response(status, reason.encode("latin-1", "replace").decode("latin-1"))
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "max-age=0")
        self.end_headers()
        self.wfile.write(raw)
