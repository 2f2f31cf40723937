"""docker-compose.yml against the services' Settings classes, without a Docker engine.

`docker-compose config` (v1, or the `docker compose` v2 plugin) resolves the file with dummy values;
the result must name every service, refuse to resolve without a required secret, give every
service the settings it needs in production (and no unknown FEDI_* names), and actually validate
as each service's `Settings` in production mode.

Without docker-compose the test is skipped, except under CI=true where that is a failure.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import ValidationError

from runtime.settings import SecretKeySettings
from tests.conftest import require

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"

SERVICES = ("panel", "configurator", "orchestrator", "storage", "identity")
INFRASTRUCTURE = ("nats", "postgres")

# One value for every variable of .env.example (test_env_example_lists_every_variable keeps the two
# in step). Distinctive values so the resolved settings can be traced back to them.
DUMMY_ENV = {
    "POSTGRES_PASSWORD": "dummy-postgres-password",
    "PANEL_SECRET_KEY": "dummy-panel-secret-key",
    "STORAGE_SECRET_KEY": "dummy-storage-secret-key",
    "STORAGE_PREVIOUS_SECRET_KEYS": "[]",
    "IDENTITY_PREVIOUS_SECRET_KEYS": "[]",
    "IDENTITY_SECRET_KEY": "dummy-identity-secret-key",
    "PROXMOX_HOST": "pve.example.test",
    "PROXMOX_PORT": "8006",
    "PROXMOX_TOKEN_ID": "fedi@pve!control-plane",
    "PROXMOX_TOKEN_SECRET": "dummy-proxmox-token-secret",
    "PROXMOX_VERIFY_SSL": "true",
    "PROXMOX_NODE": "pve-test",
    "PROXMOX_TEMPLATE_VMID": "9100",
    "GARAGE_ADMIN_URL": "http://garage.example.test:3903",
    "GARAGE_ADMIN_TOKEN": "dummy-garage-admin-token",
    "S3_ENDPOINT": "https://s3.example.test",
    "S3_REGION": "garage",
    "STORAGE_BACKEND": "garage",
    "S3_ACCESS_KEY_ID": "",
    "S3_SECRET_ACCESS_KEY": "",
    "PDNS_API_URL": "http://ns1.example.test:8081",
    "PDNS_API_KEY": "dummy-pdns-api-key",
    "PDNS_SERVER_ID": "localhost",
    "LDAP_URL": "ldaps://ldap.example.test",
    "LDAP_BIND_DN": "cn=fedi,dc=example,dc=test",
    "LDAP_BIND_PASSWORD": "dummy-ldap-bind-password",
    "LDAP_BASE_DN": "dc=example,dc=test",
    "PANEL_BASE_URL": "https://panel.example.test",
    "SMTP_HOST": "smtp.example.test",
    "SMTP_PORT": "587",
    "SMTP_FROM": "",
    "SMTP_USER": "fedipanel",
    "SMTP_PASSWORD": "dummy-smtp-password",
    "LOG_LEVEL": "INFO",
    **{f"{user}_NATS_PASSWORD": f"dummy-{user.lower()}-nats-password" for user in ("ADMIN", "PANEL", "CONFIGURATOR", "ORCHESTRATOR", "STORAGE", "IDENTITY")},
}

# A Settings field the compose file must set: its default is a development value (a local address,
# a development credential), or its name says it is a credential.
ALWAYS_SET = ("environment", "nats_url", "database_url")
RISKY_NAME_PARTS = ("token", "secret", "password", "key")
RISKY_DEFAULT_PARTS = ("127.0.0.1", "localhost", "development")
# Credentials must come from the environment as ${VAR:?message}: never a value baked into the file.
CREDENTIAL = re.compile(r"(^|_)(secret|token|password)$|secret_key$")
REQUIRED_SUBSTITUTION = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}$")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def prefix(service: str) -> str:
    return f"FEDI_{service.upper()}_"


def settings_class(service: str):
    return importlib.import_module(f"services.{service}.settings").Settings


# PowerDNS names its one server "localhost" in every API path: a protocol constant, not an address.
# The orchestrator's secrets_command delivers secret files; its name says "secret", it holds none.
PROTOCOL_CONSTANTS = ("dns_server_id", "secrets_command")


def needs_value(name: str, default: object) -> bool:
    return name not in PROTOCOL_CONSTANTS and (
        name in ALWAYS_SET
        or any(part in name for part in RISKY_NAME_PARTS)
        or any(part in str(default) for part in RISKY_DEFAULT_PARTS)
    )


# --- running docker-compose -------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> list[str]:
    found = shutil.which("docker-compose")
    if found:
        return [found]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return [docker, "compose"]
    require("docker-compose is not installed (apt-get install docker-compose, or the docker compose plugin)")


@pytest.fixture(scope="module")
def run_config(compose, tmp_path_factory):
    """Runs `config` with exactly the given variables: nothing inherited from this process, and an
    empty --env-file so a developer's real .env at the repo root is never read."""
    scratch = tmp_path_factory.mktemp("compose")
    empty_env_file = scratch / "empty.env"
    empty_env_file.write_text("")

    def run(variables: dict[str, str]) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch), **variables}
        return subprocess.run(
            [*compose, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), "config"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )

    return run


@pytest.fixture(scope="module")
def resolved(run_config) -> dict:
    result = run_config(DUMMY_ENV)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def environment_of(config: dict, service: str) -> dict[str, str]:
    env = config["services"][service].get("environment") or {}
    if isinstance(env, list):  # the KEY=value list form
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


# --- (a) the stack resolves ----------------------------------------------------------------------


def test_config_resolves_with_every_service(resolved):
    assert set(resolved["services"]) == {*SERVICES, *INFRASTRUCTURE}


def test_services_run_from_the_one_image(resolved):
    for service in SERVICES:
        definition = resolved["services"][service]
        assert definition["command"] == ["python", "-m", f"services.{service}"], service
        assert Path(definition["build"]["context"]).resolve() == ROOT, service
        assert definition["restart"] == "unless-stopped", service
        assert {"nats", "postgres"} <= set(definition["depends_on"]), service


def test_nats_has_jetstream_on_a_volume(resolved):
    nats = resolved["services"]["nats"]
    assert nats["image"].startswith("nats:2.10")
    command = nats["command"]
    assert "-js" in command
    store_dir = command[command.index("-sd") + 1]
    # v1 prints "source:target:mode", v2 a mapping with "target".
    targets = {volume["target"] if isinstance(volume, dict) else volume.split(":")[1] for volume in nats["volumes"]}
    assert store_dir in targets, f"the JetStream store {store_dir} is not on a volume"


def test_panel_listens_on_published_port_8000(resolved):
    panel = resolved["services"]["panel"]
    assert environment_of(resolved, "panel")["FEDI_PANEL_HTTP_HOST"] == "0.0.0.0"
    # v1/v2 print {"published": 8000, "target": 8000}; the short form is "8000:8000".
    mappings = {
        (str(port["published"]), str(port["target"])) if isinstance(port, dict) else tuple(str(port).split(":")[-2:])
        for port in panel["ports"]
    }
    assert ("8000", "8000") in mappings


def test_every_service_database_is_created_by_the_init_script(resolved, raw):
    init_sql = INIT_SQL.read_text()
    mounts = [str(volume) for volume in raw["services"]["postgres"]["volumes"]]
    assert any("deploy/postgres/init.sql" in mount and "/docker-entrypoint-initdb.d/" in mount for mount in mounts)
    for service in SERVICES:
        url = urlsplit(environment_of(resolved, service)[prefix(service) + "DATABASE_URL"])
        assert url.scheme == "postgresql+asyncpg" and url.hostname == "postgres", service
        assert url.password == DUMMY_ENV["POSTGRES_PASSWORD"], service
        database = url.path.lstrip("/")
        assert re.search(rf"^CREATE DATABASE {re.escape(database)};", init_sql, re.MULTILINE), (
            f"{service} uses database {database!r}, which {INIT_SQL.relative_to(ROOT)} does not create"
        )


def test_env_example_lists_every_variable(raw):
    used: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            used.update(VARIABLE.findall(node))

    walk(raw)
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert used == listed, f"only in docker-compose.yml: {used - listed}; only in .env.example: {listed - used}"
    assert set(DUMMY_ENV) == listed, "DUMMY_ENV must give every .env.example variable a value"


# --- (b) a missing secret stops it ---------------------------------------------------------------


@pytest.mark.parametrize("missing", ["PANEL_SECRET_KEY", "STORAGE_SECRET_KEY", "IDENTITY_SECRET_KEY", "POSTGRES_PASSWORD", "LDAP_BIND_PASSWORD"])
def test_config_fails_clearly_without_a_required_secret(run_config, missing):
    result = run_config({key: value for key, value in DUMMY_ENV.items() if key != missing})
    assert result.returncode != 0, f"docker-compose config accepted a stack without {missing}"
    output = result.stdout + result.stderr
    assert f"set {missing} in .env" in output, output


# --- (c) compose environment vs the Settings classes ---------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_what_production_needs(resolved, service):
    env = environment_of(resolved, service)
    fields = settings_class(service).model_fields
    missing = [
        prefix(service) + name.upper()
        for name, field in fields.items()
        if needs_value(name, field.default) and prefix(service) + name.upper() not in env
    ]
    assert not missing, f"{service}: docker-compose.yml leaves these at their development defaults: {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_no_unknown_settings(resolved, service):
    env = environment_of(resolved, service)
    fields = settings_class(service).model_fields
    foreign = [key for key in env if key.startswith("FEDI_") and not key.startswith(prefix(service))]
    unknown = [key for key in env if key.startswith(prefix(service)) and key[len(prefix(service)):].lower() not in fields]
    assert not foreign, f"{service}: settings of another service: {foreign}"
    assert not unknown, f"{service}: not fields of services.{service}.settings.Settings (typo?): {unknown}"


@pytest.mark.parametrize("service", SERVICES)
def test_credentials_come_from_required_variables(raw, service):
    env = environment_of(raw, service)
    for name in settings_class(service).model_fields:
        key = prefix(service) + name.upper()
        if CREDENTIAL.search(name) and key in env:
            assert REQUIRED_SUBSTITUTION.match(env[key]), f"{key} must be ${{VAR:?message}}, not {env[key]!r}"
    assert "${POSTGRES_PASSWORD:?" in env[prefix(service) + "DATABASE_URL"]


# --- (d) the resolved environment validates in production ----------------------------------------


def _settings_from(monkeypatch, service: str, env: dict[str, str]):
    for key in list(os.environ):
        if key.startswith("FEDI_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return settings_class(service)()


@pytest.mark.parametrize("service", SERVICES)
def test_resolved_environment_validates_in_production(resolved, monkeypatch, service):
    env = environment_of(resolved, service)
    settings = _settings_from(monkeypatch, service, env)
    assert settings.environment == "production"
    assert settings.service_name == service
    assert settings.nats_url == "tls://nats:4222"
    assert settings.sqlalchemy_url().startswith("postgresql+asyncpg://")
    for name in settings_class(service).model_fields:
        if needs_value(name, settings_class(service).model_fields[name].default):
            value = str(getattr(settings, name))
            assert not any(part in value for part in RISKY_DEFAULT_PARTS), f"{service}.{name} = {value!r}"

    if isinstance(settings, SecretKeySettings):
        # The compose key is what got through (not the refused default)...
        assert settings.secret_key == DUMMY_ENV[f"{service.upper()}_SECRET_KEY"]
        # ...and without it this environment really is refused, so the check above means something.
        without_key = {key: value for key, value in env.items() if key != prefix(service) + "SECRET_KEY"}
        with pytest.raises(ValidationError, match=f"FEDI_{service.upper()}_SECRET_KEY"):
            _settings_from(monkeypatch, service, without_key)
