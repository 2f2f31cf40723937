"""A real PowerDNS Authoritative server (`pdns_server`, gsqlite3 backend, HTTP API on) in a folder of
its own, on free ports: for tests and for the embedded stack.

    server = PdnsServer(data_dir).start()   # .api_url, .api_key, .dns_port
    server.stop()

or in the foreground, until SIGTERM/SIGINT:

    python -m sandbox.pdns --data-dir D --api-port P --dns-port Q --api-key K
"""

from __future__ import annotations

import argparse
import glob
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from runtime.nats_server import free_port

SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
BACKEND_GLOBS = ("/usr/lib/*/pdns/libgsqlite3backend.so", "/usr/lib/pdns/libgsqlite3backend.so")
INSTALL_HINT = "apt-get install pdns-server pdns-backend-sqlite3"


class PdnsUnavailable(RuntimeError):
    """pdns_server or its SQLite backend is not installed."""


def pdns_binary() -> Path:
    found = shutil.which("pdns_server") or shutil.which("pdns_server", path="/usr/sbin")
    if found is None:
        raise PdnsUnavailable(f"pdns_server not found ({INSTALL_HINT})")
    if not SCHEMA.exists() or not any(glob.glob(pattern) for pattern in BACKEND_GLOBS):
        raise PdnsUnavailable(f"the PowerDNS SQLite backend is not installed ({INSTALL_HINT})")
    return Path(found)


def missing() -> str | None:
    """Why a PowerDNS server cannot be started here, or None when it can."""
    try:
        pdns_binary()
    except PdnsUnavailable as exc:
        return str(exc)
    return None


class PdnsServer:
    """One pdns_server process keeping its zones in `data_dir/pdns.sqlite3` (they survive a restart).

    Ports 0 pick free ports; an empty `api_key` makes a random one. Without `log_file` the server
    writes to this process's output.
    """

    def __init__(self, data_dir: Path | str | None = None, api_port: int = 0, dns_port: int = 0,
                 api_key: str = "", log_file: Path | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="pdns-"))
        self.api_port = api_port or free_port()
        self.dns_port = dns_port or free_port()
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.log_file = log_file
        self.process: subprocess.Popen | None = None
        self._own_socket_dir: Path | None = None

    def __repr__(self) -> str:
        return f"PdnsServer({str(self.data_dir)!r}, api_port={self.api_port}, dns_port={self.dns_port})"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def database(self) -> Path:
        return self.data_dir / "pdns.sqlite3"

    def start(self, timeout: float = 20.0) -> PdnsServer:
        binary = pdns_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.database.exists():
            with sqlite3.connect(self.database) as db:
                db.executescript(SCHEMA.read_text())
        config = self.data_dir / "pdns.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)  # it holds the API key
        config.write_text(self._config())
        log = open(self.log_file, "ab") if self.log_file else None
        self.process = subprocess.Popen(
            [str(binary), f"--config-dir={self.data_dir}"], stdout=log, stderr=subprocess.STDOUT if log else None,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        if log:
            log.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._own_socket_dir:
            shutil.rmtree(self._own_socket_dir, ignore_errors=True)
            self._own_socket_dir = None

    def __enter__(self) -> PdnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _config(self) -> str:
        settings = {
            "launch": "gsqlite3",
            "gsqlite3-database": self.database,
            "local-address": "127.0.0.1",
            "local-port": self.dns_port,
            "socket-dir": self._socket_dir(),
            "api": "yes",
            "api-key": self.api_key,
            "webserver": "yes",
            "webserver-address": "127.0.0.1",
            "webserver-port": self.api_port,
            "webserver-allow-from": "127.0.0.0/8",
            "daemon": "no",
            "guardian": "no",
            "disable-syslog": "yes",
            "write-pid": "no",
            "loglevel": "4",
            "security-poll-suffix": "",  # no look-ups on the internet
            "default-soa-content": "ns1.@ hostmaster.@ 0 10800 3600 604800 3600",
            # A sandbox answers what was just written: no caches to wait out.
            "cache-ttl": "0",
            "negquery-cache-ttl": "0",
            "query-cache-ttl": "0",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _socket_dir(self) -> Path:
        # A unix socket path has at most 107 bytes: a deep data_dir gets its control socket elsewhere.
        if len(str(self.data_dir.resolve() / "pdns.controlsocket")) < 100:
            return self.data_dir.resolve()
        self._own_socket_dir = self._own_socket_dir or Path(tempfile.mkdtemp(prefix="pdns-socket-"))
        return self._own_socket_dir

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.api_url}/api/v1/servers/localhost"
        request = urllib.request.Request(url, headers={"X-API-Key": self.api_key})
        while True:
            if self.process.poll() is not None:
                ports = f"{self.api_port}/{self.dns_port}"
                raise RuntimeError(f"pdns_server exited with code {self.process.returncode} (ports {ports} taken?)")
            try:
                with urllib.request.urlopen(request, timeout=1) as response:
                    if response.status == 200 and _listens(self.dns_port):
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"pdns_server did not answer on {self.api_url} within {timeout:.0f}s")
            time.sleep(0.05)


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.pdns", description="Run a PowerDNS Authoritative server.")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--dns-port", type=int, default=0)
    parser.add_argument("--api-key", default=os.environ.get("PDNS_API_KEY", ""),
                        help="key of the HTTP API (default: $PDNS_API_KEY, else random and printed)")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = PdnsServer(args.data_dir, args.api_port, args.dns_port, args.api_key).start()
    try:
        print(f"pdns_server API on {server.api_url}, DNS on 127.0.0.1:{server.dns_port}", flush=True)
        if not args.api_key:
            print(f"api key: {server.api_key}", flush=True)
        while not stop.is_set() and server.process.poll() is None:
            stop.wait(0.5)
    finally:
        server.stop()
    if not stop.is_set():
        raise SystemExit("pdns_server stopped unexpectedly")


if __name__ == "__main__":
    main()
