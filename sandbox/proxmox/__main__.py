"""Run the Proxmox stand-in in the foreground until SIGTERM/SIGINT.

python -m sandbox.proxmox --port 8006 --state-file state.json --cert-dir tls \
    --token-id 'root@pam!fedi' --token-secret SECRET [--node pve1] [--template 9000=nixos-24.11] \
    [--latency qmclone=2]
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from . import ProxmoxSandbox


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.proxmox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8006)
    parser.add_argument("--state-file", type=Path)
    parser.add_argument("--cert-dir", type=Path)
    parser.add_argument("--token-id", default="root@pam!fedi")
    parser.add_argument("--token-secret", default="sandbox-secret")
    parser.add_argument("--node", action="append", help="cluster node name (repeatable; default pve1)")
    parser.add_argument("--template", action="append", type=_pair, help="VMID=NAME (repeatable; default 9000=nixos-24.11)")
    parser.add_argument("--latency", action="append", type=_pair, default=[], help="OP=SECONDS (repeatable)")
    args = parser.parse_args(argv)
    sandbox = ProxmoxSandbox(
        host=args.host, port=args.port, token_id=args.token_id, token_secret=args.token_secret,
        nodes=tuple(args.node or ("pve1",)), state_file=args.state_file, cert_dir=args.cert_dir,
        templates={int(k): v for k, v in args.template} if args.template else None)
    for op, seconds in args.latency:
        sandbox.set_latency(op, float(seconds))
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    sandbox.start()
    print(f"proxmox sandbox listening on {sandbox.url}", flush=True)
    stopping.wait()
    sandbox.stop()


if __name__ == "__main__":
    main()
