"""The embedded stack: nats-server, the sandbox stand-ins and the five services, each its own
process, with their state under one folder. `fedi up` runs it; the end-to-end tests do too."""

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime.connection import connect_options
from runtime.devca import ensure_dev_ca
from runtime.nats_server import NatsServer, free_port
from runtime.permissions import server_config
from sandbox import nixos_target
from sandbox.pdns import PdnsServer
from sandbox.pdns import missing as pdns_missing

SERVICES = ("configurator", "storage", "identity", "orchestrator", "panel")
PROXMOX_TOKEN_ID = "root@pam!fedi"


@dataclass
class Stack:
    home: Path
    panel_port: int = 8000
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for every service (e.g. FEDI_ORCHESTRATOR_PARALLELISM)."""
    services: tuple[str, ...] = SERVICES
    """The services to run as processes (a test may run some in its own process instead)."""
    telemetry: bool = True
    """Tracing spans and the metrics endpoints (switched off only to measure what they cost)."""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = self.home.resolve()
        self.sandbox = self.home / "sandbox"
        self.logs = self.home / "logs"
        ports = _stable_ports(
            self.home / "ports.json",
            ("nats", "nats_monitor", "proxmox", "garage_admin", "garage_s3", *(f"metrics_{s}" for s in SERVICES),
             "pdns_api", "pdns_dns"),
        )
        self.pdns = PdnsServer(
            self.home / "sandbox" / "pdns", api_port=ports.pop("pdns_api"), dns_port=ports.pop("pdns_dns"),
            api_key=_stable_secret(self.home / "sandbox" / "pdns-key"), log_file=self.home / "logs" / "pdns.log",
        )
        self.metrics_ports = {service: ports.pop(f"metrics_{service}") for service in SERVICES}
        self.nats = NatsServer(
            self.home / "nats",
            port=ports.pop("nats"),
            monitor_port=ports.pop("nats_monitor"),
            log_file=self.logs / "nats.log",
            config_file=self.home / "nats" / "server.conf",
            tls=True,
        )
        self.nats_passwords = {user: _stable_secret(self.home / "nats" / "users" / user) for user in ("admin", *SERVICES)}
        self.ports = ports
        self.proxmox_secret = _stable_secret(self.home / "sandbox" / "proxmox-token")
        self.garage_token = _stable_secret(self.home / "sandbox" / "garage-token")

    # -- where things are ---------------------------------------------------------------------------

    @property
    def panel_url(self) -> str:
        return f"http://127.0.0.1:{self.panel_port}"

    @property
    def proxmox_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['proxmox']}"

    @property
    def garage_admin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['garage_admin']}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['garage_s3']}"

    def describe(self) -> dict:
        return {
            "panel": self.panel_url,
            "nats": self.nats.url,
            "nats_credentials": str(self.admin_credentials),
            "nats_monitor": f"http://127.0.0.1:{self.nats.monitor_port}",
            "proxmox_sandbox": self.proxmox_url,
            "garage_admin_sandbox": self.garage_admin_url,
            "s3_sandbox": self.s3_url,
            "nixos_sandbox_records": str(self.sandbox / "nixos"),
            **({"pdns_api": self.pdns.api_url, "pdns_dns_port": self.pdns.dns_port} if getattr(self, "dns", None)
               else {"dns": f"records only reported, not published: {pdns_missing()}"}),
            **{f"metrics_{s}": f"http://127.0.0.1:{port}/metrics" for s, port in self.metrics_ports.items()},
            "logs": str(self.logs),
            "data": str(self.home),
        }

    # -- life cycle -----------------------------------------------------------------------------------

    def start(self) -> "Stack":
        self.logs.mkdir(parents=True, exist_ok=True)
        self.sandbox.mkdir(parents=True, exist_ok=True)
        self._write_bus_config()
        self.nats.start()
        self.dns = self.pdns.start() if pdns_missing() is None else None  # else DNS records are not published
        self._spawn("proxmox", [
            "-m", "sandbox.proxmox", "--port", str(self.ports["proxmox"]),
            "--state-file", str(self.sandbox / "proxmox.json"), "--cert-dir", str(self.sandbox / "tls"),
            "--token-id", PROXMOX_TOKEN_ID, "--token-secret", self.proxmox_secret,
        ])
        self._spawn("garage", [
            "-m", "sandbox.garage", "--admin-port", str(self.ports["garage_admin"]),
            "--s3-port", str(self.ports["garage_s3"]), "--admin-token", self.garage_token,
            "--state-file", str(self.sandbox / "garage.json"),
        ])
        for name, port in self.ports.items():
            _wait_for_port(port, f"sandbox {name}", self.processes)
        for service in self.services:
            self.start_service(service)
        if "panel" in self.services:
            _wait_for_port(self.panel_port, "panel", self.processes)
        (self.home / "stack.json").write_text(json.dumps(self.describe(), indent=2) + "\n")
        return self

    def _write_bus_config(self) -> None:
        """Users with the permissions the catalogue gives them, TLS with a development CA."""
        self.tls = ensure_dev_ca(self.home / "tls")
        tls = {"cert_file": str(self.tls["cert"]), "key_file": str(self.tls["key"]), "timeout": 5}
        _write_private(self.nats.config_file, server_config(self.nats_passwords, tls))
        admin = {"user": "admin", "password": self.nats_passwords["admin"], "ca_file": str(self.tls["ca"])}
        _write_private(self.admin_credentials, json.dumps(admin))

    @property
    def admin_credentials(self) -> Path:
        """What the operations tools (fedi trace, dlq, events) log in with."""
        return self.home / "nats" / "admin.json"

    def admin_options(self) -> dict:
        return connect_options(**json.loads(self.admin_credentials.read_text()))

    def start_service(self, service: str) -> None:
        self._spawn(service, ["-m", f"services.{service}"], self.service_env(service))

    def service_env(self, service: str) -> dict[str, str]:
        prefix = f"FEDI_{service.upper()}_"
        settings = {
            "NATS_URL": self.nats.url,
            "NATS_USER": service,
            "NATS_PASSWORD": self.nats_passwords[service],
            "NATS_CA_FILE": str(self.tls["ca"]),
            "DATA_DIR": str(self.home / service),
            "REDELIVERY_BACKOFF_SECONDS": "0.2",
            # A crashed process's unacknowledged messages come back this soon (handlers heartbeat).
            "ACK_WAIT_SECONDS": "5",
            "METRICS_PORT": str(self.metrics_ports[service]) if self.telemetry else "0",
            "TRACING_ENABLED": str(self.telemetry).lower(),
        }
        settings |= {
            "orchestrator": {
                "PROXMOX_HOST": "127.0.0.1",
                "PROXMOX_PORT": str(self.ports["proxmox"]),
                "PROXMOX_TOKEN_ID": PROXMOX_TOKEN_ID,
                "PROXMOX_TOKEN_SECRET": self.proxmox_secret,
                "PROXMOX_VERIFY_SSL": str(self.sandbox / "tls" / "cert.pem"),
                "PROXMOX_POLL_SECONDS": "0.05",
                "RETRY_BACKOFF_SECONDS": "0.2",
                **({"DNS_API_URL": self.pdns.api_url, "DNS_API_KEY": self.pdns.api_key} if self.dns else {}),
                "DEPLOY_COMMAND": shlex.join(nixos_target.deploy_command(self.sandbox / "nixos")),
                "SECRETS_COMMAND": shlex.join(nixos_target.secrets_command(self.sandbox / "nixos")),
            },
            "storage": {
                "GARAGE_ADMIN_URL": self.garage_admin_url,
                "GARAGE_ADMIN_TOKEN": self.garage_token,
                "S3_ENDPOINT": self.s3_url,
            },
            "panel": {"HTTP_PORT": str(self.panel_port)},
        }.get(service, {})
        return {prefix + key: value for key, value in settings.items()}

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        env = os.environ | self.env | (extra_env or {})
        log = open(self.logs / f"{name}.log", "ab")
        # Its own session: a Ctrl-C reaches `fedi up` alone, which stops the services first and the
        # bus last, so every service drains cleanly.
        self.processes[name] = subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()

    def kill(self, name: str) -> None:
        """Kills one process at once (SIGKILL), as a crash would."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            _terminate(self.processes.pop(name))
        self.pdns.stop()
        self.nats.stop()

    def alive(self) -> dict[str, bool]:
        return {name: process.poll() is None for name, process in self.processes.items()}


def _terminate(process: subprocess.Popen, timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, what: str, processes: dict[str, subprocess.Popen], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode} while waiting for {what}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout:.0f}s")


def _stable_ports(path: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The ports this data folder used before when they are still free (state refers to them), else new ones."""
    previous = json.loads(path.read_text()) if path.exists() else {}
    ports = {name: previous[name] if _is_free(previous.get(name)) else free_port() for name in names}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ports))
    return ports


def _is_free(port: int | None) -> bool:
    if not port:
        return False
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text)


def _stable_secret(path: Path) -> str:
    """A sandbox credential made once per data folder, so a restarted stack still matches its state."""
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()
