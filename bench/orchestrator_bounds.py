"""How close the orchestrator comes to the bounds its plan and its limits allow, on the Proxmox
sandbox with a latency set per operation, a real nats-server (and pdns_server when installed), a
stand-in for storage and identity answering after a set delay, and a deploy command that takes a
set time.

1. Critical path: one operator with three services. Bound: the longest dependency chain of the
   plan (the orchestrator's own graph, implicit dependencies included), each step costing the sum
   of the latencies it must wait for. Prints wall time / bound.
2. Capacity: N operators (default 200) with one VM each, submitted at once. Bound: the clones
   queue behind the per-node clone limit (nodes x limit at a time), plus what must come before the
   first clone and after the last one. Prints makespan / bound.

    .venv/bin/python bench/orchestrator_bounds.py [--operators 200] [--clone 1.0]
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime.nats_server import NatsServer  # noqa: E402
from sandbox.pdns import PdnsServer  # noqa: E402
from sandbox.pdns import missing as pdns_missing  # noqa: E402
from sandbox.proxmox import ProxmoxSandbox  # noqa: E402
from services.orchestrator.domain.graph import StepView, remaining_seconds  # noqa: E402
from services.orchestrator.domain.plan import planned_steps  # noqa: E402
from tests.integration.test_orchestrator_support import (  # noqa: E402
    TOKEN_ID,
    TOKEN_SECRET,
    Bus,
    StandInForStorageAndIdentity,
    World,
    plan,
    resources,
)

NODES, CLONES_PER_NODE = ("pve1", "pve2"), 2


class NoDns:
    api_url, api_key = "", ""

    def stop(self) -> None:
        pass


def latencies(clone: float) -> dict[str, float]:
    return {"qmclone": clone, "qmconfig": clone / 10, "resize": clone / 10, "qmstart": clone / 4, "guest_agent_boot": clone / 2}


def step_costs(lat: dict[str, float], deploy: float, answer: float) -> dict[str, float]:
    vm = lat["qmclone"] + lat["qmconfig"] + lat["resize"] + lat["qmstart"] + lat["guest_agent_boot"]
    return {"vm": vm, "nixos": deploy, "dns": 0.0, "bucket": answer, "account": answer, "mail": answer, "sshkey": answer}


def critical_path(message, costs: dict[str, float]) -> float:
    steps = planned_steps([r.model_dump(mode="json") for r in message.resources], message.changes)
    views = [StepView(s.resource_id, s.kind, "pending", s.depends_on) for s in steps]
    return remaining_seconds(views, costs)


def run(world: World, messages: list) -> tuple[float, list[str]]:
    started = time.time()
    for message in messages:
        world.bus.publish(message)
    outcomes = [world.finish(m.deployment_id, timeout=3600) for m in messages]
    ours = {m.deployment_id for m in messages}
    ends = [m.occurred_at.timestamp() for m in world.bus.messages() if m.type == "deployment.succeeded" and m.correlation_id in ours]
    return max(ends) - started, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operators", type=int, default=200)
    parser.add_argument("--clone", type=float, default=1.0, help="seconds a clone task takes; other latencies scale with it")
    parser.add_argument("--deploy", type=float, default=1.0, help="seconds a NixOS deploy takes")
    parser.add_argument("--answer", type=float, default=0.2, help="seconds storage and identity take to answer")
    parser.add_argument("--poll", type=float, default=None,
                        help="longest pause between Proxmox polls (default: a tenth of --clone, as the service's 0.5 s is "
                             "to a real clone of tens of seconds)")
    args = parser.parse_args()

    lat = latencies(args.clone)
    poll = args.clone / 10 if args.poll is None else args.poll
    costs = step_costs(lat, args.deploy, args.answer)
    home = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    nats = NatsServer(home / "nats").start()
    proxmox = ProxmoxSandbox(token_id=TOKEN_ID, token_secret=TOKEN_SECRET, nodes=NODES, cert_dir=home / "tls").start()
    for op, seconds in lat.items():
        proxmox.set_latency(op, seconds)
    pdns = NoDns() if pdns_missing() else PdnsServer(home / "pdns").start()
    stand_in = StandInForStorageAndIdentity(latency=args.answer)
    bus = Bus(nats.url, stand_in)
    bus.start_stand_in()
    world = World(home, nats, proxmox, pdns, bus, stand_in, settings={
        "DEPLOY_COMMAND": f"sleep {args.deploy}", "CLONE_LIMIT_PER_NODE": str(CLONES_PER_NODE),
        "PROXMOX_NODES": ",".join(NODES), "PROGRESS_INTERVAL_SECONDS": "1", "PROXMOX_POLL_SECONDS": str(poll),
        "DNS_API_URL": pdns.api_url,
    })
    try:
        world.start()
        run(world, [plan("warmup", 1, resources("warmup", dns=not pdns_missing()))])  # not measured: start-up
        one = plan("solo", 1, resources("solo", services=("mastodon", "pixelfed", "peertube"), dns=not pdns_missing()))
        bound = critical_path(one, costs)
        wall, outcomes = run(world, [one])
        assert outcomes == ["succeeded"], world.reason(one.deployment_id)
        print(f"critical path: one deployment of 3 services took {wall:.2f} s; its critical-path bound is {bound:.2f} s; "
              f"ratio {wall / bound:.2f}")

        many = [plan(f"op{n:03d}", 1, resources(f"op{n:03d}", dns=not pdns_missing())) for n in range(args.operators)]
        per_operator = critical_path(many[0], costs)
        head = costs["sshkey"]
        tail = per_operator - head - lat["qmclone"]
        slots = len(NODES) * CLONES_PER_NODE
        capacity = head + math.ceil(args.operators / slots) * lat["qmclone"] + tail
        makespan, outcomes = run(world, many)
        assert outcomes == ["succeeded"] * len(many), [world.reason(m.deployment_id) for m in many]
        print(f"capacity: {args.operators} operators' deployments took {makespan:.2f} s; the bound of {slots} concurrent "
              f"clones ({len(NODES)} nodes x {CLONES_PER_NODE}) is {capacity:.2f} s; ratio {makespan / capacity:.2f}")
    finally:
        world.stop()
        bus.close()
        pdns.stop()
        proxmox.stop()
        nats.stop()


if __name__ == "__main__":
    main()
