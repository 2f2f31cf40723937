"""Checks a generated deployment the way a real deploy would trip over it, with clear reasons."""

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from sandbox.nixos_target import nix_eval

SERVICES = ("mastodon", "peertube", "pixelfed")
SECRETS_DIR = "/run/fediversity/secrets/"
_SECRET_KEY = re.compile(r"secret|password|passwd|token|private_?key|api_?key", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


class DeploymentInvalid(Exception):
    """The deployment cannot be switched to; `reasons` says why, one clear sentence each."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def validate_deployment(flake_dir: Path, vm: str, host: str, received: Path) -> dict:
    """Returns the VM's `fediversity` settings, or raises DeploymentInvalid. `received` is the host's
    secrets folder: what was delivered to it, not what the deployment folder holds."""
    flake = flake_dir / "flake.nix"
    vm_json = flake_dir / "vms" / f"{vm}.json"
    if not flake.is_file():
        raise DeploymentInvalid([f"path '{flake}' does not exist"])
    if not vm_json.is_file():
        raise DeploymentInvalid([f"vms/{vm}.json does not exist in {flake_dir}"])
    try:
        document = json.loads(vm_json.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DeploymentInvalid([f"vms/{vm}.json is not valid JSON: {e}"]) from None
    settings = document.get("fediversity") if isinstance(document, dict) else None
    if not isinstance(settings, dict):
        raise DeploymentInvalid([f"vms/{vm}.json has no `fediversity` object"])

    reasons = [f"vms/{vm}.json: {r}" for r in _shape_problems(settings, vm, host)]
    reasons += [f"vms/{vm}.json: {r}" for r in _plain_secrets(document, ())]
    reasons += _missing_secret_files(document, received, vm, host)
    if not reasons and nix_eval.available():
        reasons += nix_eval.problems(flake_dir, vm)
    if reasons:
        raise DeploymentInvalid(reasons)
    return settings


def enabled_services(settings: dict) -> list[str]:
    return [name for name in SERVICES if settings[name]["enable"]]


def _shape_problems(settings: dict, vm: str, host: str) -> Iterator[str]:
    for key in ("operator", "domain"):
        if not isinstance(settings.get(key), str) or not settings[key]:
            yield f"fediversity.{key} must be a non-empty string"
    machine = settings.get("vm")
    if not isinstance(machine, dict):
        yield "fediversity.vm must be an object"
    else:
        if machine.get("name") != vm:
            yield f"fediversity.vm.name is {machine.get('name')!r} but the flake attribute is {vm!r}"
        if machine.get("address") != host:
            yield f"fediversity.vm.address is {machine.get('address')!r} but the target host is {host!r}"
    for name in SERVICES:
        service = settings.get(name)
        if not isinstance(service, dict) or not isinstance(service.get("enable"), bool):
            yield f"fediversity.{name}.enable must be true or false"
        elif service["enable"] and not isinstance(service.get("hostName"), str):
            yield f"fediversity.{name}.hostName must be set when {name} is enabled"


def _plain_secrets(value, path: tuple[str, ...]) -> Iterator[str]:
    """Values that look like secrets; secrets travel only as `...File` paths."""
    if isinstance(value, dict):
        for key, child in value.items():
            if _SECRET_KEY.search(key) and not key.endswith("File") and not isinstance(child, dict | bool):
                yield f"{'.'.join((*path, key))} holds a secret value; pass it as a `{key}File` path under {SECRETS_DIR}"
            else:
                yield from _plain_secrets(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _plain_secrets(child, (*path, str(index)))
    elif isinstance(value, str) and _SECRET_VALUE.search(value):
        yield f"{'.'.join(path)} holds a private key; pass it as a `...File` path under {SECRETS_DIR}"


def _secret_file_refs(value, path: tuple[str, ...]) -> Iterator[tuple[str, object]]:
    if isinstance(value, dict):
        for key, child in value.items():
            if key.endswith("File"):
                yield ".".join((*path, key)), child
            else:
                yield from _secret_file_refs(child, (*path, key))


def _missing_secret_files(document: dict, received: Path, vm: str, host: str) -> Iterator[str]:
    for option, target in _secret_file_refs(document, ()):
        if not isinstance(target, str) or not target.startswith(SECRETS_DIR) or target.endswith("/"):
            yield f"vms/{vm}.json: {option} must be a file path under {SECRETS_DIR}, not {target!r}"
            continue
        name = target.removeprefix(SECRETS_DIR)
        secret = received / name
        if "/" in name or not secret.is_file():
            yield f"{option} refers to {target}, but no such file was delivered to {host}"
        elif stat.S_IMODE(secret.stat().st_mode) & 0o077:
            mode = stat.S_IMODE(secret.stat().st_mode)
            yield f"{target} on {host} is readable by others (mode {mode:04o}); secret files must be 0600"
        elif secret.stat().st_size == 0:
            yield f"{target} on {host} is empty"
