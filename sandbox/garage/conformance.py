"""Checks every exchange between an admin API client and a Garage (the stand-in or a real one)
against Garage's documented shapes: what the client sends and what the server answers.

    transport = CheckedTransport()
    GarageAdmin(url, token, transport=transport)  # ... use it ...
    assert transport.problems == []
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import httpx

from . import openapi

GARAGE_ERROR_FIELDS = ("code", "message", "region", "path")
"""Garage's error body (`CommonErrorDerivative`); the OpenAPI document leaves errors undescribed."""

_ENCODING_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


class CheckedTransport(httpx.BaseTransport):
    def __init__(self, problems: list[str] | None = None, operations: set[str] | None = None,
                 inner: httpx.BaseTransport | None = None) -> None:
        """`problems` and `operations` may be shared by several transports (one per client)."""
        self.inner = inner or httpx.HTTPTransport()
        self.problems = [] if problems is None else problems
        self.operations = set() if operations is None else operations
        """Operations answered 200, each checked on both sides."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.removeprefix("/v2/")
        body = request.read()
        sent = request_problems(name, request.method, request.url.query.decode(), body, request.headers.get("Authorization"))
        self.problems.extend(f"{name} request: {p}" for p in sent)
        response = self.inner.handle_request(request)
        content = response.read()  # decoded: the headers saying how it was encoded no longer apply
        answered = answer_problems(name, response.status_code, content)
        self.problems.extend(f"{name} answer {response.status_code}: {p}" for p in answered)
        if response.status_code == 200:
            self.operations.add(name)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _ENCODING_HEADERS]
        return httpx.Response(response.status_code, headers=headers, content=content, request=request)

    def close(self) -> None:
        self.inner.close()


def request_problems(name: str, method: str, query: str, body: bytes, authorization: str | None) -> list[str]:
    try:
        documented_method, _, op = openapi.operation(name)
    except KeyError:
        return [f"{name} is not an operation of Garage's admin API"]
    out = [] if method == documented_method else [f"sent as {method}, documented as {documented_method}"]
    if not (authorization or "").startswith("Bearer "):
        out.append("no bearer token")
    sent = dict(parse_qsl(query, keep_blank_values=True))
    # Garage's router reads ids from the query string even where the document says "path".
    declared = {p["name"]: p for p in op.get("parameters", ())}
    out += [f"undocumented parameter `{p}`" for p in sent if p not in declared]
    out += [f"required parameter `{p}` missing" for p, spec in declared.items() if spec.get("required") and p not in sent]
    schema = openapi.request_schema(name)
    if schema is None:
        return out + ([f"a body was sent to an operation that takes none: {body[:80]!r}"] if body else [])
    try:
        value = json.loads(body)
    except ValueError:
        return out + ["the body is not JSON"]
    return out + openapi.problems(value, schema)


def answer_problems(name: str, status: int, content: bytes) -> list[str]:
    try:
        value = json.loads(content) if content else None
    except ValueError:
        return ["the body is not JSON"]
    if status != 200:
        if not isinstance(value, dict) or not all(isinstance(value.get(f), str) for f in GARAGE_ERROR_FIELDS):
            return [f"an error body without Garage's fields {GARAGE_ERROR_FIELDS}: {content[:200]!r}"]
        return []
    try:
        schema = openapi.response_schema(name)
    except KeyError:
        return []  # the request side already said the operation is unknown
    if schema is None:
        return [] if value is None else [f"a body where the document has none: {content[:80]!r}"]
    return openapi.problems(value, schema)
