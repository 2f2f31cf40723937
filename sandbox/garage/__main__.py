"""`python -m sandbox.garage --admin-port A --s3-port S --admin-token T [--state-file F]`"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from .sandbox import GarageSandbox


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sandbox.garage", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--admin-port", type=int, default=3903)
    p.add_argument("--s3-port", type=int, default=3900)
    p.add_argument("--admin-token", default=os.environ.get("GARAGE_ADMIN_TOKEN"),
                   help="bearer token of the admin API (default: $GARAGE_ADMIN_TOKEN, else random)")
    p.add_argument("--region", default="garage")
    p.add_argument("--state-file", type=Path)
    args = p.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = GarageSandbox(args.host, args.admin_port, args.s3_port, args.admin_token, args.region,
                            args.state_file).start()
    try:
        print(f"garage sandbox admin on {sandbox.admin_url} s3 on {sandbox.s3_url}", flush=True)
        if not args.admin_token:
            print(f"admin token: {sandbox.admin_token}", flush=True)
        stop.wait()
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
