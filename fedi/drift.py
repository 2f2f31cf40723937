"""`fedi drift`: what the orchestrator recorded, against what Proxmox, PowerDNS and storage hold.

Where to look comes from the orchestrator's and storage's settings (FEDI_ORCHESTRATOR_*,
FEDI_STORAGE_*); what they leave unset is taken from the `fedi up` stack in --home, when there is one.
Exit code: 0 nothing differs, 3 something differs, 1 a backend or the database could not be read; data
kept on purpose (a replaced VM shut down with its disk) is listed as kept, which is no drift.
A backend that is not configured at all (no PowerDNS; storage on plain S3) is named and left out.
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console

DRIFT, UNCHECKED = 3, 1
console = Console()


@dataclass(frozen=True)
class Sources:
    """Where the records and the backends are, and how to log in to each."""

    database_url: str
    proxmox: dict[str, Any]
    garage: tuple[str, str] | None
    """(admin api url, token), or None when storage is not on Garage (plain S3 has no admin API)."""
    dns: tuple[str, str, str] | None
    """(api url, api key, server id), or None when no PowerDNS is configured."""

    def __repr__(self) -> str:
        return f"Sources(database_url={self.database_url!r}, proxmox={self.proxmox['host']}:{self.proxmox['port']})"


@dataclass(frozen=True)
class DriftReport:
    operator: str | None
    checked: int
    """Recorded resources compared."""
    differences: list
    unchecked: dict[str, str]
    """backend -> why it could not be read"""
    not_compared: dict[str, str] = field(default_factory=dict)
    """backend -> why it is left out by configuration (not an error)"""

    @property
    def exit_code(self) -> int:
        drifted = any(d.kind != "kept" for d in self.differences)  # data kept on purpose is shown, not drift
        return DRIFT if drifted else UNCHECKED if self.unchecked else 0

    def as_dict(self) -> dict:
        return {"operator": self.operator, "checked": self.checked, "exit_code": self.exit_code,
                "differences": [asdict(d) for d in self.differences], "unchecked": self.unchecked,
                "not_compared": self.not_compared}


class NotConfigured(LookupError):
    """A backend this installation does not use, or whose admin API it has not been given."""


def sources(home: Path) -> Sources:
    """The orchestrator's and storage's settings; what the environment leaves unset comes from the
    `fedi up` stack in `home`, if there is one."""
    from services.orchestrator.settings import Settings as OrchestratorSettings
    from services.storage.settings import Settings as StorageSettings

    embedded_orchestrator, embedded_storage = _embedded(home)
    orchestrator = _settings(OrchestratorSettings, embedded_orchestrator)
    storage = _settings(StorageSettings, embedded_storage)
    default_database = orchestrator.data_dir.resolve() / "orchestrator.db"
    database_url = orchestrator.database_url or f"sqlite+aiosqlite:///{default_database}"
    proxmox = {
        "host": orchestrator.proxmox_host,
        "port": orchestrator.proxmox_port,
        "token_id": orchestrator.proxmox_token_id,
        "token_secret": _plain(orchestrator.proxmox_token_secret),
        "verify_ssl": orchestrator.verify_ssl(),
    }
    dns_url = orchestrator.dns_api_url
    dns = (dns_url, _plain(orchestrator.dns_api_key), orchestrator.dns_server_id) if dns_url else None
    on_garage = getattr(storage, "backend", "garage") == "garage"
    garage = (storage.garage_admin_url, _plain(storage.garage_admin_token)) if on_garage else None
    return Sources(database_url, proxmox, garage, dns)


def check(where: Sources, operator: str | None = None) -> DriftReport:
    """Reads the records and the three backends (at once), and compares them."""
    from services.orchestrator.domain.drift import BACKEND_NAMES, COMPARED, Held, find_drift

    from .drift_sources import RecordsUnreadable, read_recorded

    try:
        recorded = asyncio.run(read_recorded(where.database_url))
    except RecordsUnreadable:
        raise
    except Exception as exc:
        raise RecordsUnreadable(f"the orchestrator's database could not be read: {exc}") from None
    mine = [r for r in recorded if operator in (None, r.operator_id) and r.state in COMPARED]
    readers = {"proxmox": _proxmox, "storage": _storage, "dns": _dns}
    with ThreadPoolExecutor(len(readers)) as pool:
        futures = {name: pool.submit(read, where, recorded, mine) for name, read in readers.items()}
    held, unchecked, not_compared = {}, {}, {}
    for name, future in futures.items():
        try:
            held |= future.result()
        except NotConfigured as exc:
            not_compared[name] = str(exc)
        except Exception as exc:  # any failure of one backend leaves the others to be compared
            unchecked[name] = f"{BACKEND_NAMES[name]} could not be read: {_why(exc)}"
    differences = find_drift(recorded, Held(**held, unreadable=unchecked | not_compared), operator)
    return DriftReport(operator, len(mine), differences, unchecked, not_compared)


def drift(
    home: Annotated[Path, typer.Option(envvar="FEDI_HOME", help="Folder holding all local state.")] = Path("var"),
    operator: Annotated[str | None, typer.Option(help="Only this operator's resources.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as one JSON object.")] = False,
) -> None:
    """Compare what the orchestrator recorded with what Proxmox, PowerDNS and storage hold (exit 3 on drift)."""
    from .drift_sources import RecordsUnreadable

    try:
        report = check(sources(home), operator)
    except RecordsUnreadable as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(UNCHECKED) from None
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        for line in render(report):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(report.exit_code)


def render(report: DriftReport) -> list[str]:
    whose = f" of {report.operator}" if report.operator else ""
    lines = [f"not compared: {why}" for why in report.not_compared.values()]
    lines += [f"not checked: {why}" for why in report.unchecked.values()]
    if not report.differences:
        if lines:
            return [*lines, f"no drift found in what was compared ({report.checked} recorded resources{whose})"]
        return [f"no drift: the {report.checked} recorded resources{whose} match what the backends hold"]
    width = max(len(d.subject) for d in report.differences)
    for owner in sorted({d.operator_id or "" for d in report.differences}):
        lines.append(f"{owner or '(operator unknown)'}:")
        lines += [f"  {d.kind:8} {d.subject:{width}}  {d.message}"
                  for d in report.differences if (d.operator_id or "") == owner]
    count = len(report.differences)
    lines.append(f"{count} difference{'s' if count != 1 else ''}{whose} ({report.checked} recorded resources compared)")
    return lines


# ---- readers, each giving its part of `Held` ---------------------------------------------------


def _proxmox(where: Sources, recorded, mine) -> dict:
    from proxmoxer import ProxmoxAPI

    from .drift_sources import read_proxmox

    p = where.proxmox
    user, token_name = p["token_id"].split("!", 1)
    api = ProxmoxAPI(p["host"], port=p["port"], user=user, token_name=token_name, token_value=p["token_secret"],
                     verify_ssl=p["verify_ssl"], timeout=30)
    return {"vms": read_proxmox(api, recorded)}


def _storage(where: Sources, recorded, mine) -> dict:
    from services.storage.adapters.garage import GarageAdmin

    from .drift_sources import read_storage

    if where.garage is None:
        if any(r.kind == "bucket" for r in mine):
            raise NotConfigured("buckets and keys: storage is not on Garage, whose admin API drift reads")
        return {}
    with GarageAdmin(*where.garage) as admin:
        buckets, keys = read_storage(admin, recorded)
    return {"buckets": buckets, "keys": keys}


def _dns(where: Sources, recorded, mine) -> dict:
    from services.orchestrator.adapters.dns import PowerDns

    from .drift_sources import read_dns

    if where.dns is None:
        if any(r.kind == "dns" for r in mine):
            raise NotConfigured("DNS records: no PowerDNS is configured (FEDI_ORCHESTRATOR_DNS_API_URL), "
                                "so the orchestrator only reported them")
        return {}
    url, key, server_id = where.dns
    with PowerDns(url, key, server_id) as pdns:
        return {"zones": read_dns(pdns, mine)}


def _why(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    if status is not None:  # proxmoxer: the reason is its content
        return f"{status} {getattr(exc, 'content', '')}".strip()
    if exc.__class__.__module__.startswith("requests"):
        return f"unreachable ({exc.__class__.__name__})"
    return str(exc) or exc.__class__.__name__


# ---- settings -----------------------------------------------------------------------------------


def _settings(cls, embedded: dict):
    """`cls` from the environment, with `embedded` filling what the environment does not set."""
    from_env = cls()
    return cls(**{key: value for key, value in embedded.items() if key not in from_env.model_fields_set})


def _embedded(home: Path) -> tuple[dict, dict]:
    """The orchestrator's and storage's settings of the `fedi up` stack in `home` (see fedi/stack.py)."""
    described = home / "stack.json"
    if not described.exists():
        return {"data_dir": home / "orchestrator"}, {}
    from .stack import PROXMOX_TOKEN_ID

    stack, sandbox = json.loads(described.read_text()), home / "sandbox"
    storage = {"garage_admin_url": stack["garage_admin_sandbox"], "garage_admin_token": _secret(sandbox / "garage-token")}
    proxmox = urlsplit(stack["proxmox_sandbox"])
    orchestrator = {
        "data_dir": home / "orchestrator",
        "proxmox_host": proxmox.hostname,
        "proxmox_port": proxmox.port,
        "proxmox_token_id": PROXMOX_TOKEN_ID,
        "proxmox_token_secret": _secret(sandbox / "proxmox-token"),
        "proxmox_verify_ssl": str(sandbox / "tls" / "cert.pem"),
    }
    if stack.get("pdns_api"):
        orchestrator |= {"dns_api_url": stack["pdns_api"], "dns_api_key": _secret(sandbox / "pdns-key")}
    return orchestrator, storage


def _plain(value) -> str:
    """A setting's value, whether a plain string or a pydantic SecretStr."""
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def _secret(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""
