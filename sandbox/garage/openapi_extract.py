"""Writes `garage-admin-v2.shapes.json`, the part of Garage's OpenAPI document the stand-in and the
storage client are checked against: every operation's method and path, and for the operations the
stand-in serves their parameters, request body and answers with the schemas they reach. Prose
(descriptions, examples, titles) is left out: only the interface's shapes are kept.

    python -m sandbox.garage.openapi_extract /path/to/garage-admin-v2.json

The source is Garage's `doc/api/garage-admin-v2.json` (AGPL-3.0). Run again when Garage's admin API
changes; nothing reads the full document at run or test time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .admin_ops import ROUTES

TARGET = Path(__file__).with_name("garage-admin-v2.shapes.json")
_PROSE = {"description", "example", "examples", "title"}


def _shape(schema: Any) -> Any:
    """The schema without prose; names under `properties` are data, kept whatever they are."""
    if isinstance(schema, list):
        return [_shape(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in _PROSE:
            continue
        out[key] = {name: _shape(sub) for name, sub in value.items()} if key == "properties" else _shape(value)
    return out


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"].rsplit("/", 1)[1]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def extract(document: dict) -> dict:
    served = set(ROUTES)
    paths: dict[str, dict] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            kept: dict[str, Any] = {"operationId": op["operationId"]}
            if op["operationId"] in served:
                kept |= {
                    "parameters": [{k: p[k] for k in ("name", "in", "required", "schema") if k in p}
                                   for p in op.get("parameters", ())],
                    **({"requestBody": _shape(op["requestBody"])} if "requestBody" in op else {}),
                    "responses": {status: _shape(r) for status, r in op["responses"].items()},
                }
            paths.setdefault(path, {})[method] = kept
    schemas = document["components"]["schemas"]
    needed, todo = set(), _refs(paths)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo |= _refs(schemas[name])
    info = document["info"]
    return {
        "openapi": document["openapi"],
        "info": {
            "title": info["title"],
            "version": info["version"],
            "license": info.get("license"),
            "x-extract": "Shapes only, from Garage's doc/api/garage-admin-v2.json: operations, parameters, "
                         "schemas; written by sandbox/garage/openapi_extract.py.",
        },
        "paths": paths,
        "components": {
            "schemas": {name: _shape(schemas[name]) for name in sorted(needed)},
            "securitySchemes": document["components"].get("securitySchemes", {}),
        },
        "security": document.get("security", []),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.garage.openapi_extract", description=__doc__)
    parser.add_argument("document", type=Path, help="Garage's garage-admin-v2.json")
    args = parser.parse_args(argv)
    TARGET.write_text(json.dumps(extract(json.loads(args.document.read_text())), indent=1, sort_keys=True) + "\n")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
