"""The /api2/json endpoints: the apidoc entry each one is checked against, the operation name that
faults and latencies refer to, and the Cluster call that answers it."""

from __future__ import annotations

import re
import time
from urllib.parse import unquote

from .errors import ApiError, ConnectionReset
from .faults import Faults
from .state import Cluster, lock_timeout_msg
from .validation import validate

VM = "/nodes/{node}/qemu/{vmid}"
# (method, apidoc path, operation, answers with a task, call)
ROUTES = [
    ("GET", "/version", "version", False, lambda c, p, f: c.version()),
    ("GET", "/nodes", "nodes", False, lambda c, p, f: c.node_list()),
    ("GET", "/cluster/nextid", "nextid", False, lambda c, p, f: c.nextid(p.get("vmid"))),
    ("GET", "/cluster/resources", "resources", False, lambda c, p, f: c.resources(p.get("type"))),
    ("GET", "/pools", "pools", False, lambda c, p, f: c.pool_list(p.get("poolid"))),
    ("POST", "/pools", "create_pool", False, lambda c, p, f: c.create_pool(p["poolid"], p.get("comment", ""))),
    ("GET", "/nodes/{node}/storage", "storage", False, lambda c, p, f: c.storage(p["node"], p.get("content"), p.get("storage"))),
    ("GET", "/nodes/{node}/qemu", "vmlist", False, lambda c, p, f: c.vm_list(p["node"])),
    ("POST", VM + "/clone", "qmclone", True, lambda c, p, f: c.clone(p, f)),
    ("GET", VM + "/config", "vm_config", False, lambda c, p, f: c.get_config(p["node"], p["vmid"])),
    ("POST", VM + "/config", "qmconfig", True, lambda c, p, f: c.update_config(p, f)),
    ("PUT", VM + "/config", "qmconfig", False, lambda c, p, f: c.update_config(p, sync=True)),
    ("PUT", VM + "/resize", "resize", True, lambda c, p, f: c.resize(p, f)),
    ("GET", VM + "/status/current", "vm_status", False, lambda c, p, f: c.vm_status(p["node"], p["vmid"])),
    *[("POST", f"{VM}/status/{action}", f"qm{action}", True, lambda c, p, f, action=action: c.power(action, p, f))
      for action in ("start", "stop", "shutdown", "reboot")],
    ("DELETE", VM, "qmdestroy", True, lambda c, p, f: c.destroy(p, f)),
    ("GET", VM + "/agent/network-get-interfaces", "agent", False, lambda c, p, f: c.agent_interfaces(p["node"], p["vmid"])),
    ("GET", VM + "/agent/file-read", "agent", False, lambda c, p, f: c.agent_file_read(p["node"], p["vmid"], p["file"])),
    ("GET", "/nodes/{node}/tasks/{upid}/status", "task_status", False, lambda c, p, f: c.task_status(p["node"], p["upid"])),
    ("GET", "/nodes/{node}/tasks/{upid}/log", "task_log", False,
     lambda c, p, f: c.task_log(p["node"], p["upid"], p.get("start", 0), p.get("limit", 50))),
]
_MATCHERS = [(re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route[1]))), route) for route in ROUTES]


def dispatch(cluster: Cluster, faults: Faults, method: str, path: str, params: dict[str, str]):
    """Answer `method path` (path below /api2/json) with the `data` of the reply, or raise ApiError."""
    for matcher, (route_method, template, op, is_task, call) in _MATCHERS:
        if route_method == method and (match := matcher.fullmatch(path)):
            break
    else:
        raise ApiError(501, f"Method '{method} {path}' not implemented")
    params = validate(template, method, {**params, **{k: unquote(v) for k, v in match.groupdict().items()}})
    fault = faults.take(op)
    kind = fault and fault["kind"]
    if kind == "reset":
        raise ConnectionReset(op)
    if kind == "id_taken":
        cluster.take_id(int(params.get("newid", params.get("vmid", 0))))
    if kind == "http_596":
        raise ApiError(596, "Connection timed out")
    if kind == "http_500":
        raise ApiError(500, fault["message"] or f"internal error - injected fault in {op}")
    if not is_task:  # latency and faults of a synchronous call delay or fail the answer itself
        time.sleep(cluster.latency.get(op, 0.0) + (fault["seconds"] if kind == "slow" else 0.0))
        if kind == "lock_timeout":
            raise ApiError(500, lock_timeout_msg(params.get("vmid", "cluster")))
        fault = None
    return call(cluster, params, fault)
