"""PowerDNS Authoritative through its HTTP API, in the orchestrator's terms: zones and record sets.

Every call is safe to repeat: creating a zone that exists, replacing a record set with the same
contents and deleting what is gone all succeed. Errors come back as `DnsError` (`.transient` says
whether retrying can help); the API key never appears in a repr or a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from ..domain.records import RRSet, absolute, record_content

__all__ = ["DnsError", "PowerDns", "RRSet"]


class DnsError(RuntimeError):
    """A refusal or failure of PowerDNS. `status` is None when no answer came."""

    backend = "dns"

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"{status or 'no answer'}: {message}")
        self.status = status
        self.message = message

    @property
    def transient(self) -> bool:
        """Server-side or connection trouble: the same call may succeed later. 4xx never will."""
        return self.status is None or self.status >= 500

    @property
    def kind(self) -> str:
        """For the metrics: http_<status>, or unreachable."""
        return f"http_{self.status}" if self.status else "unreachable"


class PowerDns:
    """`PowerDns(api_url, api_key)`; use as a context manager or `close()`."""

    def __init__(self, api_url: str, api_key: str, server_id: str = "localhost", timeout: float = 10,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = httpx.Client(
            base_url=f"{api_url.rstrip('/')}/api/v1/servers/{server_id}",
            headers={"X-API-Key": api_key},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PowerDns:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PowerDns({str(self._http.base_url)!r})"

    # ---- zones ----

    def ensure_zone(self, zone: str, nameservers: Iterable[str] = ()) -> bool:
        """Creates the zone (kind Native) unless it exists; True when it was created."""
        zone = absolute(zone)
        body = {"name": zone, "kind": "Native", "nameservers": [absolute(ns) for ns in nameservers]}
        try:
            self._call("POST", "/zones", f"creating zone {zone}", json=body)
        except DnsError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def delete_zone(self, zone: str) -> None:
        """Deletes the zone and all its records; nothing to do when it does not exist."""
        zone = absolute(zone)
        try:
            self._call("DELETE", f"/zones/{zone}", f"deleting zone {zone}")
        except DnsError as exc:
            if exc.status != 404:
                raise

    def zones(self) -> list[str]:
        return sorted(z["name"] for z in self._call("GET", "/zones", "listing zones"))

    # ---- record sets ----

    def replace_rrset(self, zone: str, name: str, type: str, ttl: int, contents: Iterable[str]) -> None:
        """Makes `name`/`type` hold exactly `contents` (plain text for TXT is quoted here)."""
        rtype = type.upper()
        records = [{"content": record_content(rtype, c), "disabled": False} for c in contents]
        change = {"name": absolute(name), "type": rtype, "ttl": ttl, "changetype": "REPLACE", "records": records}
        self._patch(zone, change, f"replacing {rtype} {absolute(name)}")

    def delete_rrset(self, zone: str, name: str, type: str) -> None:
        """Removes every record of `name`/`type`; nothing to do when there are none, or no zone."""
        change = {"name": absolute(name), "type": type.upper(), "changetype": "DELETE"}
        try:
            self._patch(zone, change, f"deleting {type.upper()} {absolute(name)}")
        except DnsError as exc:
            if exc.status != 404:
                raise

    def rrsets(self, zone: str) -> list[RRSet]:
        """Every record set of the zone, SOA and NS included. DnsError 404 when the zone does not exist."""
        zone = absolute(zone)
        data = self._call("GET", f"/zones/{zone}", f"reading zone {zone}", params={"rrsets": "true"})
        return sorted(
            (
                RRSet(absolute(r["name"]), r["type"], r["ttl"], tuple(sorted(x["content"] for x in r["records"])))
                for r in data.get("rrsets", ())
            ),
            key=lambda r: (r.name, r.type),
        )

    # ---- transport ----

    def _patch(self, zone: str, change: dict, doing: str) -> None:
        zone = absolute(zone)
        self._call("PATCH", f"/zones/{zone}", f"{doing} in zone {zone}", json={"rrsets": [change]})

    def _call(self, method: str, path: str, doing: str, params: dict | None = None, json: Any = None) -> Any:
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            raise DnsError(None, f"{doing}: PowerDNS unreachable ({exc.__class__.__name__})") from None
        if response.is_success:
            return response.json() if response.content else None
        raise DnsError(response.status_code, f"{doing}: {_explain(response)}")


def _explain(response: httpx.Response) -> str:
    try:
        reason = response.json().get("error", "")
    except ValueError:
        reason = response.text.strip()[:300]
    status = response.status_code
    if status == 401:
        return "PowerDNS refused the API key (401 Unauthorized): check the configured key"
    if status == 404:
        return "no such zone on PowerDNS (404)"
    if status == 409:
        return f"already exists (409 {reason or 'Conflict'})"
    if status == 422:
        return f"PowerDNS rejected it as invalid (422): {reason}"
    return f"PowerDNS answered {status}: {reason or response.reason_phrase}"
