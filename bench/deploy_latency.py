"""How long one deployment (Mastodon + Pixelfed) takes through the control plane on the sandbox
with zero latency, against a baseline measured in the same run: the same side effects (two VMs,
two buckets with keys and probes, two NixOS deploys) done directly and one after another by a
single script, with no bus, no databases and no services.

    .venv/bin/python bench/deploy_latency.py [--runs 5]

ratio < 1: the control plane's parallelism wins over its overhead; > 1: overhead dominates.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import through_control_plane  # noqa: E402
from contracts.resources import VmSpec  # noqa: E402
from fedi.stack import PROXMOX_TOKEN_ID, Stack  # noqa: E402
from runtime.nats_server import free_port  # noqa: E402
from sandbox.nixos_target import deploy_command, secrets_command  # noqa: E402
from services.orchestrator.adapters.deployer import DeployRequest, NixosDeployer  # noqa: E402
from services.orchestrator.adapters.proxmox import ProxmoxVMs  # noqa: E402
from services.storage.adapters.garage import GarageAdmin  # noqa: E402
from services.storage.adapters.probe import probe_bucket  # noqa: E402
from services.storage.provisioning import ensure_bucket  # noqa: E402

SERVICES = {"mastodon": (2, 4096), "pixelfed": (2, 2048)}


def directly(stack: Stack, operator: str, ssh_key: str) -> float:
    proxmox = ProxmoxVMs(
        "127.0.0.1", stack.ports["proxmox"], PROXMOX_TOKEN_ID, stack.proxmox_secret, node="pve1", template_vmid=9000,
        verify_ssl=str(stack.sandbox / "tls" / "cert.pem"), poll_interval=0.05,
    )
    admin = GarageAdmin(stack.garage_admin_url, stack.garage_token)
    state = stack.sandbox / "nixos"
    deployer = NixosDeployer(stack.home / "bench-deployments", command=deploy_command(state), secrets_command=secrets_command(state))
    started = time.perf_counter()
    for service, (cores, memory) in SERVICES.items():
        name = f"{operator}-{service}"
        facts = proxmox.ensure_vm(VmSpec(name=name, cores=cores, memory_mib=memory, disk_gib=40, tags=("fedi",)), ssh_key)
        access = ensure_bucket(admin, f"fedi-{name}", None, None)
        probe_bucket(stack.s3_url, "garage", f"fedi-{name}", access.access_key_id, access.secret)
        config = {"fediversity": {
            "operator": operator, "domain": f"{operator}.example",
            "vm": {"name": name, "address": facts.address, "cores": cores, "memoryMiB": memory, "diskGiB": 40},
            "initialUser": {"username": "alice", "displayName": "Alice", "email": f"alice@{operator}.example"},
            **{s: {"enable": s == service} for s in ("mastodon", "peertube", "pixelfed")},
        }}
        config["fediversity"][service] = {"enable": True, "hostName": f"{service}.{operator}.example", "options": {}}
        asyncio.run(deployer.deploy(DeployRequest(name, facts.address, config, {})))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as home:
        stack = Stack(Path(home), panel_port=free_port()).start()
        try:
            ssh_key = (stack.home / "orchestrator" / "deploy_key.pub").read_text().strip()
            through_control_plane(stack, "warmup")
            baseline = [directly(stack, f"direct{i}", ssh_key) for i in range(runs)]
            control_plane = [through_control_plane(stack, f"bench{i}") for i in range(runs)]
        finally:
            stack.stop()
    base, ours = statistics.median(baseline), statistics.median(control_plane)
    print(f"direct, sequential (baseline): median {base:.3f} s over {runs} runs")
    print(f"through the control plane:     median {ours:.3f} s over {runs} runs (submit -> succeeded, as the API shows)")
    print(f"ratio control plane / baseline: {ours / base:.2f}")


if __name__ == "__main__":
    main()
