"""Who may say and hear what on the bus, generated from the contracts' catalogue: each service may
publish only what it produces, read only what it consumes (through its own durable consumers), and
make or answer only the requests the catalogue gives it. Rendered into the nats-server config."""

import json

from contracts.catalogue import REQUESTS, SERVICES, consumed_by, durable_name, produced_by, watched_dead_letters
from contracts.subjects import STREAM, dead_letter

from .audit import AUDIT_PREFIX, AUDIT_STREAM
from .dead_letters import ADVISORIES, FAILURE_PREFIX, FAILURES, capturer_name
from .server_trace import SERVER_TRACES, TRACE_PREFIX

JS = "$JS.API"
STREAM_READERS = ("panel",)
"""Services that read the whole stream back: the panel shows a deployment's operator its chain of
events (what `fedi trace` prints). Ephemeral ordered consumers only: no durable, no ack, no publish."""
AUDITORS = ("panel",)
"""Services that write the audit log (under audit.<service>.>) and show it to provider admins."""


def inbox_prefix(service: str) -> str:
    """Each service's replies arrive under its own inbox, so no one else can read them."""
    return f"_INBOX_{service}"


def asker_of(reply_subject: str | None) -> str | None:
    """The service a request came from, told by the inbox its reply goes to: on the locked-down bus a
    service can only receive replies under its own inbox, so this cannot be claimed falsely."""
    head = (reply_subject or "").split(".", 1)[0]
    return head.removeprefix("_INBOX_") if head.startswith("_INBOX_") else None


def service_permissions(service: str) -> dict:
    consumed = [entry.subject for entry in consumed_by(service)]
    publish = [entry.subject for entry in produced_by(service)]
    publish += [dead_letter(subject) for subject in consumed]
    publish += [f"{JS}.STREAM.INFO.{STREAM}", f"{JS}.STREAM.CREATE.{STREAM}", f"{JS}.STREAM.UPDATE.{STREAM}"]
    read = consumed + watched_dead_letters(service)
    for subject, durable in zip(read, [durable_name(service, subject) for subject in read], strict=True):
        publish += [
            f"{JS}.CONSUMER.CREATE.{STREAM}.{durable}.{subject}",
            f"{JS}.CONSUMER.INFO.{STREAM}.{durable}",
            f"{JS}.CONSUMER.MSG.NEXT.{STREAM}.{durable}",
            f"$JS.ACK.{STREAM}.{durable}.>",
        ]
    if consumed:
        publish += _dead_letter_rights(service)
    if service in STREAM_READERS:
        publish += [f"{JS}.CONSUMER.CREATE.{STREAM}", f"{JS}.CONSUMER.DELETE.{STREAM}.*", f"$JS.FC.{STREAM}.>"]
        publish += [f"{JS}.CONSUMER.LIST.{STREAM}"]  # the bus-health page: every consumer's backlog
    if service in AUDITORS:
        publish += [f"{AUDIT_PREFIX}.{service}.>", f"{JS}.STREAM.INFO.{AUDIT_STREAM}", f"{JS}.STREAM.CREATE.{AUDIT_STREAM}"]
        publish += [f"{JS}.CONSUMER.CREATE.{AUDIT_STREAM}", f"{JS}.CONSUMER.DELETE.{AUDIT_STREAM}.*", f"$JS.FC.{AUDIT_STREAM}.>"]
    publish += [request.subject for request in REQUESTS if service in request.requesters]
    # The server traces a message only when its publisher may publish to the trace destination.
    publish += [f"{TRACE_PREFIX}.>", f"{JS}.STREAM.INFO.{SERVER_TRACES}", f"{JS}.STREAM.CREATE.{SERVER_TRACES}"]
    subscribe = [f"{inbox_prefix(service)}.>"]
    subscribe += [request.subject for request in REQUESTS if request.responder == service]
    permissions: dict = {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}
    if any(request.responder == service for request in REQUESTS):
        permissions["allow_responses"] = True
    return permissions


def _dead_letter_rights(service: str) -> list[str]:
    """Its own failure notes, and its own capturer of the max-deliveries advisories."""
    capturer = capturer_name(service)
    rights = [f"{JS}.STREAM.INFO.{stream}" for stream in (ADVISORIES, FAILURES)]
    rights += [f"{JS}.STREAM.CREATE.{stream}" for stream in (ADVISORIES, FAILURES)]
    rights += [
        f"{FAILURE_PREFIX}.{service}.>",
        f"{JS}.DIRECT.GET.{FAILURES}.{FAILURE_PREFIX}.{service}.>",
        f"{JS}.CONSUMER.CREATE.{ADVISORIES}.{capturer}",
        f"{JS}.CONSUMER.CREATE.{ADVISORIES}.{capturer}.>",
        f"{JS}.CONSUMER.INFO.{ADVISORIES}.{capturer}",
        f"{JS}.CONSUMER.MSG.NEXT.{ADVISORIES}.{capturer}",
        f"$JS.ACK.{ADVISORIES}.{capturer}.>",
    ]
    return rights


class Env(str):
    """A value the nats-server reads from its environment (`$NAME` in its configuration)."""


def server_config(passwords: dict[str, str], tls: dict[str, str] | None = None) -> str:
    """A nats-server configuration with one user per service plus `admin` (the operations team's
    tools: full rights). `passwords` maps user -> password (or Env references)."""
    users = [{"user": "admin", "password": passwords["admin"]}]
    users += [
        {"user": service, "password": passwords[service], "permissions": service_permissions(service)}
        for service in SERVICES
    ]
    config: dict = {"authorization": {"users": users}}
    if tls:
        config["tls"] = tls
    return "# Generated from contracts/catalogue.py by runtime/permissions.py: do not edit.\n" + _render(config) + "\n"


def compose_server_config() -> str:
    """The configuration docker-compose.yml mounts: passwords from the container's environment."""
    passwords = {user: Env(f"{user.upper()}_NATS_PASSWORD") for user in ("admin", *SERVICES)}
    tls = {"cert_file": "/etc/nats/tls/server.pem", "key_file": "/etc/nats/tls/server-key.pem", "timeout": 5}
    return server_config(passwords, tls)


def _render(value, indent: int = 0) -> str:
    """NATS configuration syntax (a relaxed JSON that also allows `$ENV` references)."""
    pad = "  " * (indent + 1)
    if isinstance(value, Env):
        return f"${value}"
    if isinstance(value, dict):
        body = "\n".join(f"{pad}{key}: {_render(item, indent + 1)}" for key, item in value.items())
        return "{\n" + body + "\n" + "  " * indent + "}"
    if isinstance(value, list):
        body = "\n".join(f"{pad}{_render(item, indent + 1)}" for item in value)
        return "[\n" + body + "\n" + "  " * indent + "]"
    return json.dumps(value)


COMPOSE_CONFIG = "deploy/nats/server.conf"

if __name__ == "__main__":
    from pathlib import Path

    Path(COMPOSE_CONFIG).write_text(compose_server_config())
    print(f"wrote {COMPOSE_CONFIG}")
