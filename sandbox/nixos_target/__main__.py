"""Deploy a generated deployment onto a sandbox VM, as `nixos-rebuild switch` would, after
`receive-secrets` took the VM's secret files (a tar archive on stdin, as the orchestrator's secrets
command sends it over ssh) into the host's own /run/fediversity/secrets.

Environment: FEDI_SANDBOX_NIXOS_STATE (state directory when --state-dir is not given),
FEDI_SANDBOX_NIXOS_DELAY (seconds between progress lines), FEDI_SANDBOX_NIXOS_FAIL (comma-separated
VM names, or *, whose activation fails with exit status 4; `NAME@RELEASE` fails only that release).
The same entries in the state directory's failing.txt take effect while the sandbox runs.
"""

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

from sandbox.nixos_target import progress, secrets, state
from sandbox.nixos_target.validation import DeploymentInvalid, enabled_services, validate_deployment

STATE_ENV = "FEDI_SANDBOX_NIXOS_STATE"
DELAY_ENV = "FEDI_SANDBOX_NIXOS_DELAY"
FAIL_ENV = "FEDI_SANDBOX_NIXOS_FAIL"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox.nixos_target", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target-host", required=True, metavar="USER@HOST")
    common.add_argument("--state-dir", default=os.environ.get(STATE_ENV), help=f"default: ${STATE_ENV}")
    actions = parser.add_subparsers(dest="action", required=True)
    switch = actions.add_parser("switch", parents=[common])
    switch.add_argument("--flake", required=True, metavar="DIR#VM")
    switch.add_argument("--use-substitutes", action="store_true")
    actions.add_parser("receive-secrets", parents=[common])
    return parser


def _say(line: str, delay: float) -> None:
    print(line, flush=True)
    if delay:
        time.sleep(delay)


def _fail(*reasons: str, code: int = 1) -> int:
    for reason in reasons:
        print(f"error: {reason}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.state_dir:
        return _fail(f"no state directory: pass --state-dir or set {STATE_ENV}")
    host, state_dir = args.target_host.rpartition("@")[2], Path(args.state_dir)
    if args.action == "receive-secrets":
        return _receive_secrets(state_dir, host)
    directory, hash_sign, vm = args.flake.rpartition("#")
    if not hash_sign or not directory or not vm:
        return _fail(f"--flake must be DIR#VM, got {args.flake!r}")
    flake_dir = Path(directory.removeprefix("path:"))
    delay = float(os.environ.get(DELAY_ENV) or 0)

    try:
        settings = validate_deployment(flake_dir, vm, host, secrets.held(state_dir, host))
    except DeploymentInvalid as invalid:
        return _fail(*invalid.reasons)
    except secrets.SecretsRefused as refused:
        return _fail(str(refused))
    config_hash = hashlib.sha256((flake_dir / "vms" / f"{vm}.json").read_bytes()).hexdigest()
    services = enabled_services(settings)

    with state.locked(state_dir):
        previous = state.previous_record(state_dir, vm)
        for line in progress.build_lines(previous, config_hash, services):
            _say(line, delay)
        activation = progress.activation_lines(previous, config_hash, services)
        if _fault_injected(vm, str(settings.get("release", "")), state_dir):
            _say(activation[0], delay)
            _fail(f"the activation of {vm} failed (injected by {FAIL_ENV})")
            print("warning: error(s) occurred while switching to the new configuration", file=sys.stderr, flush=True)
            return 4
        for line in activation:
            _say(line, delay)
        state.record_switch(state_dir, vm, host, config_hash, services)
    return 0


def _receive_secrets(state_dir: Path, host: str) -> int:
    try:
        with state.locked(state_dir):
            names = secrets.receive(state_dir, host, sys.stdin.buffer)
    except secrets.SecretsRefused as refused:
        return _fail(str(refused))
    print(f"received {len(names)} secret files for {host}", flush=True)
    return 0


def _fault_injected(vm: str, release: str, state_dir: Path) -> bool:
    for entry in [*os.environ.get(FAIL_ENV, "").split(","), *state.failing(state_dir)]:
        name, _, only = entry.strip().partition("@")
        if name in (vm, "*") and (not only or only == release):
            return True
    return False


if __name__ == "__main__":
    sys.exit(main())
