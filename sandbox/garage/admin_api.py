"""Garage admin API v2 over HTTP (`/v2/<Operation>`, ids in the query string).

Order as in Garage's router: parse the request (endpoint, JSON body, query) -> check the bearer
token -> run. So a malformed request gets its 400 even without a token.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from urllib.parse import parse_qsl

from . import errors, openapi
from .admin_ops import ROUTES
from .cluster import Cluster
from .errors import ApiError
from .http_util import Handler

_HEALTHY = b"Garage is fully operational\nConsult the full health check API endpoint at /v2/GetClusterHealth for more details\n"
_UNAVAILABLE = (b"Quorum is not available for some/all partitions, reads and writes will fail\n"
                b"Consult the full health check API endpoint at /v2/GetClusterHealth for more details\n")


class AdminHandler(Handler):
    @property
    def cluster(self) -> Cluster:
        return self.server.app

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        path, _, qs = self.path.partition("?")
        try:
            if path.startswith("/sandbox/"):
                return self._sandbox_control(path)
            if path == "/health" and self.command == "GET":
                return self._health()
            self._json(self._operation(path, qs))
        except ApiError as e:
            self._error(e, path)
        except Exception as e:  # noqa: BLE001 - a stand-in bug must still answer, as Garage would
            self._error(errors.internal(f"{type(e).__name__}: {e}"), path)

    def _sandbox_control(self, path: str) -> None:
        """The tests' side door, loopback only: the inventory, and faults to inject."""
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            raise errors.forbidden("the sandbox controls are only served to loopback clients")
        if path == "/sandbox/inventory" and self.command == "GET":
            return self._json(self.cluster.state.inventory())
        if path == "/sandbox/faults" and self.command == "POST":
            fault = json.loads(self.read_body() or b"{}")
            try:
                rate = fault.get("rate")
                self.cluster.faults.inject(fault["operation"], fault.get("kind", "http_500"), int(fault.get("count", 1)),
                                           None if rate is None else float(rate))
            except (KeyError, TypeError, ValueError) as exc:
                raise errors.bad_request(f"a fault needs an operation and a known kind: {exc}") from None
            return self._json({"injected": fault})
        if path == "/sandbox/faults" and self.command == "DELETE":
            self.cluster.faults.clear()
            return self._json({"taken": dict(self.cluster.faults.taken)})
        raise errors.bad_request(f"Unknown sandbox control: {self.command} {path}")

    def _error(self, e: ApiError, path: str) -> None:
        body = {"code": e.code, "message": e.message, "region": self.cluster.region, "path": path}
        self.respond(e.status, json.dumps(body, indent=2).encode(), "application/json")

    def _health(self) -> None:
        try:
            self.cluster.faults.check("Health")
            self.respond(200, _HEALTHY, "text/plain")
        except ApiError:
            self.respond(503, _UNAVAILABLE, "text/plain")

    def _operation(self, path: str, qs: str) -> object:
        name = path.removeprefix("/v2/") if path.startswith("/v2/") else None
        route = ROUTES.get(name)
        if route is None or route.method != self.command:
            self.read_body()
            if name is not None and self._documented(name):
                raise ApiError(501, "NotImplemented", f"The Garage sandbox does not implement {name}")
            raise errors.bad_request(f"Unknown API endpoint: {self.command} {path}")
        raw = self.read_body()
        body = self._parse_body(raw, route.body) if route.body else None
        query = dict(parse_qsl(qs, keep_blank_values=True))
        for param in route.required:
            if param not in query:
                raise errors.bad_request(f"Missing argument `{param}` for endpoint")
        self._authorize()
        self.cluster.faults.check(name)
        result = route.run(self.cluster, query, body)
        self.cluster.faults.check_after(name)
        return result

    def _documented(self, name: str) -> bool:
        try:
            return openapi.operation(name)[0] == self.command
        except KeyError:
            return False

    @staticmethod
    def _parse_body(raw: bytes, schema: str) -> dict:
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise errors.bad_request(f"Invalid JSON: {e}") from None
        problems = openapi.problems(body, openapi.component(schema))
        if problems:
            raise errors.bad_request(f"Invalid JSON: {problems[0]}")
        return body

    def _authorize(self) -> None:
        header = self.headers.get("Authorization")
        if header is None:
            raise errors.forbidden("Bearer token must be provided in Authorization header")
        if not header.startswith("Bearer "):
            raise errors.forbidden("Invalid Authorization header")
        token = header.removeprefix("Bearer ").strip()
        if not hmac.compare_digest(token.encode(), self.cluster.admin_token.encode()):
            raise errors.forbidden("Invalid bearer token")

    def _json(self, value: object) -> None:
        self.respond(200, json.dumps(value, indent=2).encode(), "application/json",
                     [("Access-Control-Allow-Origin", "*")])

