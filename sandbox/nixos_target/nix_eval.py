"""The checks that need `nix-instantiate`: the flake parses and provides the VM's configuration,
and the VM's JSON evaluates against the modules' option declarations (nix/check)."""

import json
import shutil
import subprocess
from pathlib import Path

_CHECK = """
{ dir, vm }:
let
  flake = import (dir + "/flake.nix");
  stubInput = { lib.nixosSystem = args: args; };
  outputs = flake.outputs ({ self = outputs; } // builtins.mapAttrs (_: _: stubInput) (flake.inputs or { }));
in {
  configurations = builtins.attrNames (outputs.nixosConfigurations or { });
  errors = (import (dir + "/nix/check")).errorsIn (dir + "/vms/${vm}.json");
}
"""


def available() -> bool:
    return shutil.which("nix-instantiate") is not None


def problems(flake_dir: Path, vm: str) -> list[str]:
    parsed = _run("--parse", str(flake_dir / "flake.nix"))
    if parsed.returncode != 0:
        return [f"flake.nix does not parse: {_first_error(parsed.stderr)}"]
    if not (flake_dir / "nix" / "check" / "default.nix").is_file():
        return ["the deployment has no nix/check/default.nix to evaluate the VM's JSON with"]
    evaluated = _run("--eval", "--strict", "--json", "--argstr", "dir", str(flake_dir.resolve()), "--argstr", "vm", vm, "-E", _CHECK)
    if evaluated.returncode != 0:
        return [f"evaluating the deployment failed: {_first_error(evaluated.stderr)}"]
    result = json.loads(evaluated.stdout)
    reasons = [f"vms/{vm}.json: {error}" for error in result["errors"]]
    if vm not in result["configurations"]:
        reasons.append(f"flake does not provide attribute 'nixosConfigurations.\"{vm}\"'")
    return reasons


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nix-instantiate", *args], capture_output=True, text=True, timeout=60)


def _first_error(stderr: str) -> str:
    """nix's first `error:` message, with the `at FILE:LINE:COL` that follows it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("error:")), None)
    if start is None:
        return lines[-1] if lines else "no output"
    message = lines[start].removeprefix("error:").strip()
    where = next((line for line in lines[start + 1 : start + 3] if line.startswith("at ")), None)
    return f"{message} ({where.rstrip(':')})" if where else message
