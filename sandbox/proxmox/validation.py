"""Request parameters checked against the API-viewer schema (apidoc.json) the way
PVE::JSONSchema checks them, with its messages; returns the values typed (int/float/str)."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

from .errors import param_error

APIDOC: dict = json.loads(Path(__file__).with_name("apidoc.json").read_text())

# Highest index of the `name[n]` keys (net0..net31, scsi0..scsi30, ...).
INDEXED_MAX = {"ide": 3, "sata": 5, "scsi": 30, "virtio": 15, "unused": 255, "usb": 14,
               "serial": 3, "parallel": 2, "hostpci": 15, "numa": 7, "virtiofs": 9}
LABEL = r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"


class _Bad(Exception):
    pass


def _rx(pattern: str):
    compiled = re.compile(pattern, re.I)
    return lambda v: bool(compiled.fullmatch(v))


def _ip(value: str, version: int, cidr: bool) -> bool:
    try:
        parsed = ipaddress.ip_interface(value) if cidr else ipaddress.ip_address(value)
    except ValueError:
        return False
    return parsed.version == version and (not cidr or "/" in value)


FORMATS = {  # name -> (check, message); "<name>-list" checks each item of a list
    "pve-node": (_rx(LABEL), "value does not look like a valid node name"),
    "dns-name": (_rx(rf"(?:{LABEL}\.)*{LABEL}"), "value does not look like a valid DNS name"),
    "pve-vmid": (_rx(r"[1-9][0-9]{2,8}"), "value does not look like a valid VM ID"),
    "pve-configid": (_rx(r"[a-z][a-z0-9_]+"), "invalid configuration ID '{}'"),
    "pve-storage-id": (_rx(r"[a-z][a-z0-9\-_.]*[a-z0-9]"), "storage ID '{}' contains illegal characters"),
    "pve-poolid": (_rx(r"[a-z0-9_\-]+"), "invalid pool ID '{}'"),
    "pve-tag": (_rx(r"[a-z0-9_][a-z0-9_\-+.]*"), "invalid characters in tag '{}'"),
    "pve-bridge-id": (_rx(r"[-_.\w]+"), "invalid bridge ID '{}'"),
    "urlencoded": (_rx(r"[-%a-z0-9_.!~*'()]*"), "invalid urlencoded string: {}"),
    "mac-addr": (_rx(r"[a-f0-9][02468ace](?::[a-f0-9]{2}){5}"), "value does not look like a valid unicast MAC address"),
    "disk-size": (_rx(r"\d+(?:\.\d+)?[KMGT]?"), "unable to parse size '{}'"),
    "ipv4": (lambda v: _ip(v, 4, False), "value does not look like a valid IPv4 address"),
    "ipv6": (lambda v: _ip(v, 6, False), "value does not look like a valid IPv6 address"),
    "ipv4-config": (lambda v: v in ("dhcp", "manual") or _ip(v, 4, True), "value does not look like a valid IPv4 network configuration"),
    "ipv6-config": (lambda v: v in ("dhcp", "auto", "manual") or _ip(v, 6, True), "value does not look like a valid IPv6 network configuration"),
}
PROPERTY_STRINGS = {  # named formats that are comma-separated property strings
    "pve-qm-ipconfig": {"ip": {"format": "ipv4-config", "optional": 1}, "gw": {"format": "ipv4", "optional": 1},
                        "ip6": {"format": "ipv6-config", "optional": 1}, "gw6": {"format": "ipv6", "optional": 1}},
}


def validate(path: str, method: str, params: dict[str, str]) -> dict:
    """Check `params` (path parameters included) for apidoc[path][method]; raise a 400 listing
    every bad parameter, else return the typed values."""
    props = APIDOC[path][method]["parameters"].get("properties", {})
    errors, typed = {}, {}
    for name, value in params.items():
        schema = _schema_for(props, name)
        if schema is None:
            errors[name] = "property is not defined in schema and the schema does not allow additional properties"
            continue
        try:
            typed[name] = _check(schema, value, name)
        except _Bad as e:
            errors[name] = str(e)
    for name, schema in props.items():
        if not schema.get("optional") and "[n]" not in name and name not in params:
            errors[name] = "property is missing and it is not optional"
    if errors:
        raise param_error(errors)
    return typed


def _schema_for(props: dict, name: str) -> dict | None:
    if name in props:
        return props[name]
    m = re.fullmatch(r"([a-z]+)(\d+)", name)
    if m and f"{m[1]}[n]" in props and int(m[2]) <= INDEXED_MAX.get(m[1], 31):
        return props[f"{m[1]}[n]"]
    return None


def _check(schema: dict, value: str, name: str):
    kind = schema.get("type", "string")
    if kind == "boolean":
        if value.lower() in ("1", "true", "yes", "on"):
            return 1
        if value.lower() in ("0", "false", "no", "off"):
            return 0
        raise _Bad(f"type check ('boolean') failed - got '{value}'")
    if kind in ("integer", "number"):
        pattern = r"-?\d+" if kind == "integer" else r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
        if not re.fullmatch(pattern, value):
            raise _Bad(f"type check ('{kind}') failed - got '{value}'")
        typed = int(value) if kind == "integer" else float(value)
        if "minimum" in schema and typed < float(schema["minimum"]):
            raise _Bad(f"value must have a minimum value of {schema['minimum']}")
        if "maximum" in schema and typed > float(schema["maximum"]):
            raise _Bad(f"value must have a maximum value of {schema['maximum']}")
    else:
        typed = value
        if "maxLength" in schema and len(value) > int(schema["maxLength"]):
            raise _Bad(f"value may only be {schema['maxLength']} characters long")
        if "pattern" in schema and not re.fullmatch(schema["pattern"].replace("(?^:", "(?:"), value):
            raise _Bad("value does not match the regex pattern")
    if "enum" in schema and value not in schema["enum"]:
        raise _Bad(f"value '{value}' does not have a value in the enumeration '{', '.join(schema['enum'])}'")
    fmt = schema.get("format")
    if isinstance(fmt, dict) or fmt in PROPERTY_STRINGS:
        _check_property_string(fmt if isinstance(fmt, dict) else PROPERTY_STRINGS[fmt], value, name)
    elif fmt:
        _check_format(fmt, value)
    return typed


def _check_format(fmt: str, value: str) -> None:
    if fmt.endswith("-list") and fmt[:-5] in FORMATS:
        for item in filter(None, re.split(r"[,;\s]+", value)):
            _check_format(fmt[:-5], item)
    elif fmt in FORMATS:
        ok, message = FORMATS[fmt]
        if not ok(value):
            raise _Bad(message.format(value))


def _check_property_string(fmt: dict, value: str, name: str) -> None:
    """`key=value,...` with an optional bare value for the default key; `alias`/`keyAlias` as in
    net0's `virtio=<mac>` (= model=virtio,macaddr=<mac>)."""
    default_key = next((k for k, s in fmt.items() if s.get("default_key")), None)
    seen: set[str] = set()
    for part in filter(None, value.split(",")):
        key, eq, sub = part.partition("=")
        if not eq:
            if default_key is None or default_key in seen:
                raise _Bad("invalid format - value without key, but schema does not define a default key")
            key, sub = default_key, part
        schema = fmt.get(key)
        if schema is None:
            raise _Bad(f"invalid format - invalid key in comma-separated list property: {key}")
        if "keyAlias" in schema:
            seen.add(schema["keyAlias"])
        if "alias" in schema:
            key, schema = schema["alias"], fmt[schema["alias"]]
        if key in seen:
            raise _Bad(f"invalid format - duplicate key in comma-separated list property: {key}")
        seen.add(key)
        try:
            _check(schema, sub, f"{name}.{key}")
        except _Bad as e:
            raise _Bad(f"invalid format - format error\n{name}.{key}: {e}") from None
    for key, schema in fmt.items():
        if not schema.get("optional") and "alias" not in schema and key not in seen:
            raise _Bad(f"invalid format - format error\n{name}.{key}: property is missing and it is not optional")
