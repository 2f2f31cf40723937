"""The shapes of Garage's admin API v2 (`garage-admin-v2.shapes.json`, extracted from Garage 2.0.0's
OpenAPI document by `openapi_extract.py`) and a small checker of values and exchanges against them.

The checker covers what that document uses: `$ref`, `type` (also lists), `oneOf`, `required`,
`properties`, `items`, `minimum`. Unknown properties are allowed, as serde allows them.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


@cache
def document() -> dict:
    text = resources.files(__package__).joinpath("garage-admin-v2.shapes.json").read_text()
    return json.loads(text)


def component(name: str) -> dict:
    return document()["components"]["schemas"][name]


def operation(name: str) -> tuple[str, str, dict]:
    """(method, path, operation object) of an operationId such as `CreateBucket`."""
    for path, methods in document()["paths"].items():
        for method, op in methods.items():
            if op.get("operationId") == name:
                return method.upper(), path, op
    raise KeyError(name)


def response_schema(name: str, status: str = "200") -> dict | None:
    content = operation(name)[2]["responses"][status].get("content")
    return content["application/json"]["schema"] if content else None


def request_schema(name: str) -> dict | None:
    body = operation(name)[2].get("requestBody")
    return body["content"]["application/json"]["schema"] if body else None


def problems(value: Any, schema: dict, where: str = "") -> list[str]:
    """Every way `value` departs from `schema`, as `path: reason` strings."""
    if "$ref" in schema:
        return problems(value, component(schema["$ref"].rsplit("/", 1)[1]), where)
    if "oneOf" in schema:
        options = [problems(value, s, where) for s in schema["oneOf"]]
        if any(not p for p in options):
            return []
        wrong_type = f"{where or '$'}: expected "
        return min(options, key=lambda p: (p[0].startswith(wrong_type), len(p)))  # the option of the right type says most
    out: list[str] = []
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        if not any(_TYPES[t](value) for t in types):
            return [f"{where or '$'}: expected {' or '.join(types)}, got {type(value).__name__}"]
    if isinstance(value, dict):
        out += [f"{where}.{r}: missing" for r in schema.get("required", []) if r not in value]
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                out += problems(value[name], sub, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += problems(item, schema["items"], f"{where}[{i}]")
    if "minimum" in schema and _TYPES["number"](value) and value < schema["minimum"]:
        out.append(f"{where}: below minimum {schema['minimum']}")
    return out
