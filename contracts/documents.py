"""The checked-in documents generated from the contracts: the configuration's JSON Schema and the
AsyncAPI description of the bus. `python -m contracts.documents` rewrites both; a test fails when
either is stale."""

import json
from pathlib import Path

from pydantic.json_schema import models_json_schema

from .catalogue import CATALOGUE
from .configuration import OperatorConfiguration
from .subjects import DIRECTORY_CHECK, DIRECTORY_CONNECT, PLAN_PREVIEW, SECRET_GET, STREAM

HERE = Path(__file__).parent
CONFIGURATION_SCHEMA = HERE / "operator-configuration.schema.json"
ASYNCAPI = HERE / "asyncapi.json"
NIX_SERVICE_OPTIONS = HERE.parent / "nix" / "service-options.json"
"""What nix/lib/service-options.nix declares each service's `options` from (typed as in the schema)."""
NOT_SERVICE_OPTIONS = ("enable", "dataOnDisable")
"""Settings of a service that are the control plane's, not the service's own."""


def configuration_schema() -> dict:
    schema = OperatorConfiguration.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "operator-configuration", **schema}


def nix_service_options() -> dict:
    """Per service, each of its own settings of the configuration schema: type, bounds, default, text."""
    schema = configuration_schema()
    found = {}
    for service in ("mastodon", "peertube", "pixelfed"):
        definition = schema["$defs"][schema["properties"][service]["$ref"].rsplit("/", 1)[-1]]
        found[service] = {
            name: {key: spec[key] for key in ("type", "enum", "minimum", "maximum", "default", "description", "title") if key in spec}
            for name, spec in sorted(definition["properties"].items())
            if name not in NOT_SERVICE_OPTIONS
        }
    return found


def asyncapi() -> dict:
    models = [(entry.model, "validation") for entry in CATALOGUE]
    _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
    channels, operations, messages = {}, {}, {}
    for entry in CATALOGUE:
        name = entry.model.__name__
        channel = entry.subject.replace(".", "_")
        messages[name] = {
            "name": entry.subject,
            "title": name,
            "summary": (entry.model.__doc__ or "").strip().splitlines()[0] if entry.model.__doc__ else entry.subject,
            "contentType": "application/json",
            "x-kind": entry.model.kind,
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
        channels[channel] = {
            "address": entry.subject,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        ref = {"$ref": f"#/channels/{channel}"}
        operations[f"{entry.producer}.send.{channel}"] = {"action": "send", "channel": ref}
        for consumer in entry.consumers:
            operations[f"{consumer}.receive.{channel}"] = {"action": "receive", "channel": ref}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Fediversity control plane bus",
            "version": "1",
            "description": (
                f"Every event and command, stored in the JetStream stream {STREAM}. "
                f"Request/reply subjects ({PLAN_PREVIEW}, {SECRET_GET}, {DIRECTORY_CHECK}, {DIRECTORY_CONNECT}) are core NATS and not stored."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": definitions["$defs"]},
    }


def render(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    return {
        CONFIGURATION_SCHEMA: render(configuration_schema()),
        ASYNCAPI: render(asyncapi()),
        NIX_SERVICE_OPTIONS: render(nix_service_options()),
    }


def main() -> None:
    for path, text in expected_files().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
