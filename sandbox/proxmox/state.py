"""The simulated cluster: nodes, VMs (templates included), tasks, locks and pools. Pure logic, no HTTP.

Every public method holds one re-entrant lock. Tasks are plain data (type + arguments) advanced
against the clock at the start of every call, so nothing runs in the background and a state file
carries unfinished tasks across a restart. A task has two steps: *begin*, once the worker has
forked and taken its locks (`worker_start` latency, default 0: a clone's new VM appears with
`lock: clone` here), and *finish*, after the latency of its type (where the change is made).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import unquote

from .config import (DISK, HOST_KEY_PATH, NET, check_sshkeys, digest, disk_size, fake_ip, fake_mac, format_size,
                     host_public_key, normalise_net, option, parse_size)
from .errors import ApiError, param_error

NOT_CONFIG = {"node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay"}
STORAGES = {"local": ("dir", "iso,vztmpl,backup,snippets"), "local-lvm": ("lvmthin", "images,rootdir")}
STORAGE_SIZE = 500 << 30
KEEP_TASKS = 2000  # finished tasks remembered (oldest forgotten first)


def lock_timeout_msg(vmid) -> str:
    return f"can't lock file '/var/lock/qemu-server/lock-{vmid}.conf' - got timeout"


def _api(mutates: bool = False):
    def decorate(method):
        @functools.wraps(method)
        def locked(self, *args, **kwargs):
            with self._lock:
                self._tick()
                try:
                    return method(self, *args, **kwargs)
                finally:
                    self._dirty |= mutates
                    self._save()
        return locked
    return decorate


class Cluster:
    def __init__(self, nodes, templates: dict[int, str], user: str, state_file: Path | None = None):
        self._lock = threading.RLock()
        self.nodes, self.user, self.state_file = list(nodes), user, state_file
        self.latency: dict[str, float] = {}
        self.vms: dict[int, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.pools: dict[str, str] = {}
        self.next_pid, self.booted = 0x10000, time.time()
        if state_file and Path(state_file).exists():
            saved = json.loads(Path(state_file).read_text())
            self.vms = {int(k): vm for k, vm in saved["vms"].items()}
            self.tasks, self.pools, self.next_pid = saved["tasks"], saved["pools"], saved["next_pid"]
        for vmid, name in templates.items():
            self.vms.setdefault(vmid, self._template(vmid, name))
        self._running = {upid for upid, t in self.tasks.items() if t["status"] == "running"}
        self.peaks: dict[tuple[str, str], int] = {}
        """(node, task type) -> the most tasks of that type that ever ran at once for that node ("*": on all)."""
        if state_file:
            Path(state_file).parent.mkdir(parents=True, exist_ok=True)
        self._dirty = True
        self._save()

    def _template(self, vmid: int, name: str) -> dict:
        conf = {"name": name, "template": 1, "cores": 2, "sockets": 1, "memory": "2048", "ostype": "l26",
                "agent": "1", "scsihw": "virtio-scsi-pci", "boot": "order=scsi0",
                "scsi0": f"local-lvm:base-{vmid}-disk-0,size=8G", "ide2": f"local-lvm:vm-{vmid}-cloudinit,media=cdrom",
                "net0": f"virtio={fake_mac(vmid, 'net0')},bridge=vmbr0", "serial0": "socket", "vga": "serial0"}
        return {"vmid": vmid, "node": self.nodes[0], "status": "stopped", "started": None, "pool": None, "config": conf}

    def take_id(self, vmid: int) -> None:
        """Another client (a colleague's script, a second orchestrator) makes a VM with this id."""
        if vmid and vmid not in self.vms:
            vm = self._template(vmid, f"someone-elses-{vmid}")
            vm["config"].pop("template")
            self.vms[vmid] = vm
            self._dirty = True

    # ---- persistence and the task clock
    def _save(self) -> None:
        if self.state_file and self._dirty:
            data = {"next_pid": self.next_pid, "vms": self.vms, "tasks": self.tasks, "pools": self.pools}
            tmp = Path(f"{self.state_file}.tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.state_file)
        self._dirty = False

    def _tick(self) -> None:
        now = time.time()
        while due := [t for t in map(self.tasks.get, self._running) if t[t["step"] + "_at"] <= now]:
            self._step(min(due, key=lambda t: (t[t["step"] + "_at"], t["pid"])))

    def _task(self, node: str, kind: str, id_, args: dict, fault: dict | None, seconds: float | None = None) -> str:
        now, pid = time.time(), self.next_pid
        self.next_pid += 1
        pstart = int((now - self.booted) * 100) + 1000
        upid = f"UPID:{node}:{pid:08X}:{pstart:08X}:{int(now):08X}:{kind}:{id_}:{self.user}:"
        fault = fault or {}
        begin = now + self.latency.get("worker_start", 0.0)
        extra = fault["seconds"] if fault.get("kind") == "slow" else 0.0
        self.tasks[upid] = {
            "upid": upid, "node": node, "type": kind, "id": str(id_), "user": self.user, "pid": pid,
            "pstart": pstart, "starttime": int(now), "status": "running", "step": "begin", "begin_at": begin,
            "finish_at": begin + (self.latency.get(kind, 0.0) if seconds is None else seconds) + extra, "args": args, "fault": fault.get("kind"), "log": []}
        self._running.add(upid)
        at = args.get("node", node)  # a clone's task runs on its source's node; it counts where the copy goes
        at_once = sum(1 for u in self._running if self.tasks[u]["args"].get("node", self.tasks[u]["node"]) == at
                      and self.tasks[u]["type"] == kind)
        self.peaks[at, kind] = max(self.peaks.get((at, kind), 0), at_once)
        anywhere = sum(1 for u in self._running if self.tasks[u]["type"] == kind)
        self.peaks["*", kind] = max(self.peaks.get(("*", kind), 0), anywhere)
        for old in [u for u in self.tasks if u not in self._running][:max(0, len(self.tasks) - KEEP_TASKS)]:
            del self.tasks[old]
        self._tick()
        return upid

    def _step(self, task: dict) -> None:
        self._dirty = True
        args, step = task["args"], task["step"]
        try:
            if task["fault"] != "lock_timeout":
                effect = getattr(self, f"_{step}_{task['type']}", None)
                if effect:
                    effect(args, task["log"])
            elif step == "finish":
                raise ApiError(500, lock_timeout_msg(args.get("newid", args.get("vmid"))))
        except ApiError as e:
            return self._end(task, e.message)
        if step == "begin":
            task["step"] = "finish"
        elif task["fault"] == "warnings":
            task["log"].append("WARN: injected warning")
            self._end(task, "WARNINGS: 1")
        else:
            self._end(task, "OK")

    def _end(self, task: dict, exitstatus: str) -> None:
        ok = exitstatus == "OK" or exitstatus.startswith("WARNINGS")
        task["log"].append(f"TASK {exitstatus}" if ok else f"TASK ERROR: {exitstatus}")
        task.update(status="stopped", exitstatus=exitstatus, endtime=int(time.time()))
        self._running.discard(task["upid"])

    # ---- lookups shared by the endpoints
    def _node(self, node: str) -> None:
        if node not in self.nodes:
            raise ApiError(500, f"hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known")

    def _vm(self, node: str, vmid: int) -> dict:
        self._node(node)
        vm = self.vms.get(vmid)
        if vm is None or vm["node"] != node:
            raise ApiError(500, f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not exist")
        return vm

    @staticmethod
    def _unlocked(vm: dict, skiplock=0) -> dict:
        if (lock := vm["config"].get("lock")) and not skiplock:
            raise ApiError(500, f"VM {vm['vmid']} is locked ({lock})")
        return vm

    def _target(self, a: dict) -> dict:
        """The VM a task works on, refusing a locked one unless `skiplock`."""
        return self._unlocked(self._vm(a["node"], a["vmid"]), a.get("skiplock"))

    def _address(self, vm: dict) -> tuple[str, int]:
        ip = option(vm["config"].get("ipconfig0", ""), "ip") or ""
        return (ip.split("/")[0], int(ip.split("/")[1])) if "/" in ip else (fake_ip(vm["vmid"]), 24)

    def _summary(self, vm: dict) -> dict:
        conf, running = vm["config"], vm["status"] == "running"
        cpus = conf.get("cores", 1) * conf.get("sockets", 1)
        disks = [disk_size(v) for k, v in sorted(conf.items()) if DISK.fullmatch(k)]
        out = {"vmid": vm["vmid"], "name": conf.get("name", f"VM {vm['vmid']}"), "status": vm["status"],
               "template": int(bool(conf.get("template"))), "cpus": cpus, "maxcpu": cpus,
               "maxmem": int(option(conf.get("memory", "512"), "current", "current")) << 20,
               "maxdisk": max(disks, default=0), "uptime": int(time.time() - vm["started"]) if running else 0,
               "cpu": 0.01 if running else 0, "mem": 0, "disk": 0, "netin": 0, "netout": 0}
        out.update({k: v for k, v in (("tags", conf.get("tags")), ("lock", conf.get("lock")), ("pool", vm["pool"])) if v})
        return out

    # ---- cluster-wide reads
    @_api()
    def version(self) -> dict:
        return {"version": "8.3.2", "release": "8.3", "repoid": "3e76eec21c4a14a7"}

    @_api()
    def node_list(self) -> list[dict]:
        return [{"node": n, "status": "online", "type": "node", "id": f"node/{n}", "level": "", "cpu": 0.02,
                 "maxcpu": 16, "mem": 8 << 30, "maxmem": 64 << 30, "uptime": int(time.time() - self.booted)}
                for n in self.nodes]

    @_api()
    def nextid(self, vmid: int | None = None) -> str:
        if vmid is not None and vmid in self.vms:
            raise param_error({"vmid": f"VM {vmid} already exists"})
        return str(vmid if vmid is not None else next(i for i in itertools.count(100) if i not in self.vms))

    @_api()
    def resources(self, kind: str | None = None) -> list[dict]:
        out = []
        if kind in (None, "vm"):
            out += [{"id": f"qemu/{vmid}", "type": "qemu", "node": vm["node"], **self._summary(vm)}
                    for vmid, vm in sorted(self.vms.items())]
        if kind in (None, "node"):
            out += [{"id": f"node/{n}", "type": "node", "node": n, "status": "online"} for n in self.nodes]
        if kind in (None, "storage"):
            out += [{"id": f"storage/{n}/{s}", "type": "storage", "node": n, "storage": s, "status": "available"}
                    for n in self.nodes for s in STORAGES]
        return out

    @_api()
    def vm_list(self, node: str) -> list[dict]:
        self._node(node)
        return [self._summary(vm) for _, vm in sorted(self.vms.items()) if vm["node"] == node]

    @_api()
    def storage(self, node: str, content: str | None = None, storage: str | None = None) -> list[dict]:
        self._node(node)
        out = []
        for name, (kind, kinds) in STORAGES.items():
            used = sum(disk_size(v) for vm in self.vms.values() if vm["node"] == node
                       for k, v in vm["config"].items() if DISK.fullmatch(k) and v.startswith(f"{name}:"))
            if (content is None or content in kinds.split(",")) and storage in (None, name):
                out.append({"storage": name, "type": kind, "content": kinds, "active": 1, "enabled": 1, "shared": 0,
                            "total": STORAGE_SIZE, "used": used, "avail": STORAGE_SIZE - used})
        return out

    @_api()
    def pool_list(self, poolid: str | None = None) -> list[dict]:
        if poolid is not None and poolid not in self.pools:
            raise ApiError(500, f"pool '{poolid}' does not exist")
        return [{"poolid": p, "comment": c, **({"members": [
                    {"id": f"qemu/{i}", "type": "qemu", "vmid": i, "node": vm["node"]}
                    for i, vm in sorted(self.vms.items()) if vm["pool"] == p]} if poolid else {})}
                for p, c in sorted(self.pools.items()) if poolid in (None, p)]

    @_api(mutates=True)
    def create_pool(self, poolid: str, comment: str = "") -> None:
        if poolid in self.pools:
            raise ApiError(500, f"create pool failed: pool '{poolid}' already exists")
        self.pools[poolid] = comment

    # ---- one VM
    @_api()
    def get_config(self, node: str, vmid: int) -> dict:
        conf = self._vm(node, vmid)["config"]
        return {**conf, "digest": digest(conf)}

    @_api()
    def vm_status(self, node: str, vmid: int) -> dict:
        vm = self._vm(node, vmid)
        running = vm["status"] == "running"
        return {**self._summary(vm), "qmpstatus": vm["status"], "agent": int("agent" in vm["config"]),
                "ha": {"managed": 0}, **({"pid": 4000 + vmid} if running else {})}

    @_api()
    def agent_interfaces(self, node: str, vmid: int) -> dict:
        vm = self._vm(node, vmid)
        conf = vm["config"]
        if "agent" not in conf:
            raise ApiError(500, "No QEMU guest agent configured")
        if vm["status"] != "running":
            raise ApiError(500, f"VM {vmid} is not running")
        if option(conf["agent"], "enabled", "enabled") not in ("1", "true", "yes", "on"):
            raise ApiError(500, "QEMU guest agent is not enabled")
        if time.time() < vm["started"] + self.latency.get("guest_agent_boot", 0.0):
            raise ApiError(500, "QEMU guest agent is not running")
        ip, prefix = self._address(vm)
        mac = re.search(r"(?:[0-9A-F]{2}:){5}[0-9A-F]{2}", conf.get("net0", ""), re.I)
        mac = (mac[0] if mac else fake_mac(vmid)).lower()
        return {"result": [
            {"name": "lo", "hardware-address": "00:00:00:00:00:00", "ip-addresses": [
                {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
                {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}]},
            {"name": "eth0", "hardware-address": mac, "ip-addresses": [
                {"ip-address": ip, "ip-address-type": "ipv4", "prefix": prefix}]}]}

    @_api()
    def agent_file_read(self, node: str, vmid: int, path: str) -> dict:
        """Only the VM's SSH host key exists (made at clone time, so a re-made VM has a new one)."""
        vm = self._vm(node, vmid)
        self.agent_interfaces.__wrapped__(self, node, vmid)  # the same refusals as any agent command
        if path != HOST_KEY_PATH:
            raise ApiError(500, f"guest-file-open: Failed to open file '{path}': No such file or directory")
        return {"content": host_public_key(vm.get("host_key_seed", str(vmid))) + "\n", "bytes-read": 0}

    @_api(mutates=True)
    def clone(self, p: dict, fault: dict | None = None) -> str:
        src, newid, target = self._vm(p["node"], p["vmid"]), p["newid"], p.get("target", p["node"])
        if target not in self.nodes:
            raise ApiError(500, f"no such cluster node '{target}'")
        if newid in self.vms:
            raise ApiError(500, f"unable to create VM {newid}: config file already exists")
        if p.get("storage") and p["storage"] not in STORAGES:
            raise ApiError(500, f"storage '{p['storage']}' does not exist")
        if p.get("pool") and p["pool"] not in self.pools:
            raise ApiError(500, f"pool '{p['pool']}' does not exist")
        full = p.get("full", 0 if src["config"].get("template") else 1) or not src["config"].get("template")
        args = {"src_node": p["node"], "vmid": p["vmid"], "newid": newid, "node": target, "full": int(full),
                **{k: p[k] for k in ("name", "storage", "pool", "description") if k in p}}
        return self._task(p["node"], "qmclone", p["vmid"], args, fault)

    def _begin_qmclone(self, a: dict, log: list) -> None:
        newid = a["newid"]
        if newid in self.vms:
            raise ApiError(500, f"unable to create VM {newid}: config file already exists")
        src = self._vm(a["src_node"], a["vmid"])
        conf = {k: v for k, v in src["config"].items() if k not in ("template", "lock")}
        conf["name"] = a.get("name") or f"Copy-of-VM-{src['config'].get('name', a['vmid'])}"
        if "description" in a:
            conf["description"] = a["description"]
        disks = itertools.count()
        for key, spec in sorted(conf.items()):
            if NET.fullmatch(key):
                conf[key] = normalise_net(spec, fake_mac(newid, key), force=True)
            if not DISK.fullmatch(key) or ":" not in spec:
                continue
            store, _, rest = spec.partition(":")
            volume, _, opts = rest.partition(",")
            if "cloudinit" in volume:
                new = f"{store}:vm-{newid}-cloudinit"
            else:
                name = f"vm-{newid}-disk-{next(disks)}"
                new = f"{a.get('storage', store)}:{name}" if a["full"] else f"{store}:{volume}/{name}"
                log.append(f"create {'full' if a['full'] else 'linked'} clone of drive {key} ({store}:{volume})")
            conf[key] = ",".join(filter(None, [new, opts]))
        self.vms[newid] = {"vmid": newid, "node": a["node"], "status": "stopped", "started": None,
                           "pool": a.get("pool"), "config": {**conf, "lock": "clone"},
                           "host_key_seed": os.urandom(16).hex()}

    def _finish_qmclone(self, a: dict, log: list) -> None:
        if vm := self.vms.get(a["newid"]):
            vm["config"].pop("lock", None)

    @_api(mutates=True)
    def update_config(self, p: dict, fault: dict | None = None, sync: bool = False) -> str | None:
        vm = self._target(p)
        if "digest" in p and p["digest"] != digest(vm["config"]):
            raise ApiError(500, "detected modified configuration - file changed by other user? Try again.")
        if "sshkeys" in p:
            check_sshkeys(p["sshkeys"])
        args = {"node": p["node"], "vmid": p["vmid"], "set": {k: v for k, v in p.items() if k not in NOT_CONFIG},
                "delete": [k for k in re.split(r"[,;\s]+", p.get("delete", "")) if k]}
        if not sync:
            return self._task(p["node"], "qmconfig", p["vmid"], args, fault)
        self._finish_qmconfig(args, [])
        return None

    def _finish_qmconfig(self, a: dict, log: list) -> None:
        vmid, conf = a["vmid"], self._vm(a["node"], a["vmid"])["config"]
        for key in a["delete"]:
            conf.pop(key, None)
        for key, value in a["set"].items():
            if key == "tags":
                value = ";".join(sorted({t.lower() for t in re.split(r"[;,\s]+", value) if t}))
            elif NET.fullmatch(key):
                value = normalise_net(value, fake_mac(vmid, key))
            elif DISK.fullmatch(key) and (m := re.fullmatch(r"([^:,]+):(\d+(?:\.\d+)?)(,.*)?", value)):
                used = " ".join(str(v) for v in conf.values())  # allocate a new volume of that many GiB
                name = next(f"vm-{vmid}-disk-{n}" for n in itertools.count() if f"vm-{vmid}-disk-{n}," not in used)
                value = f"{m[1]}:{name},size={m[2]}G{m[3] or ''}"
                log.append(f"{key}: successfully created disk '{value.split(',')[0]}'")
            conf[key] = value

    @_api(mutates=True)
    def resize(self, p: dict, fault: dict | None = None) -> str:
        self._vm(p["node"], p["vmid"])
        args = {k: p[k] for k in ("node", "vmid", "disk", "size", "skiplock") if k in p}
        return self._task(p["node"], "resize", p["vmid"], args, fault)

    def _finish_resize(self, a: dict, log: list) -> None:
        conf = self._target(a)["config"]
        if a["disk"] not in conf:
            raise ApiError(500, f"disk '{a['disk']}' does not exist")
        old, size = disk_size(conf[a["disk"]]), a["size"]
        new = old + parse_size(size[1:]) if size.startswith("+") else parse_size(size)
        if new < old:
            raise ApiError(500, "shrinking disks is not supported")
        log.append(f"Size of logical volume changed from {format_size(old)} to {format_size(new)}.")
        spec = re.sub(r",size=[^,]+", "", conf[a["disk"]])
        conf[a["disk"]] = f"{spec},size={format_size(new)}"

    @_api(mutates=True)
    def power(self, action: str, p: dict, fault: dict | None = None) -> str:
        vm = self._vm(p["node"], p["vmid"])
        if action == "reboot" and vm["status"] != "running":
            raise ApiError(500, f"VM {p['vmid']} not running")
        args = {k: p[k] for k in ("node", "vmid", "skiplock") if k in p}
        seconds = None
        if action == "shutdown":  # the guest powers down in "guest_shutdown" seconds, or ignores the request
            guest = self.latency.get("guest_shutdown", 0.0) + self.latency.get("qmshutdown", 0.0)
            timeout = p.get("timeout")
            if timeout is not None and guest > int(timeout):
                args["gave_up"], seconds = not p.get("forceStop"), float(timeout)
            else:
                seconds = guest
        return self._task(p["node"], f"qm{action}", p["vmid"], args, fault, seconds)

    def _finish_qmstart(self, a: dict, log: list) -> None:
        vm = self._target(a)
        if vm["config"].get("template"):
            raise ApiError(500, "you can't start a vm if it's a template")
        if vm["status"] == "running":
            raise ApiError(500, f"VM {a['vmid']} already running")
        vm.update(status="running", started=time.time())

    def _finish_qmstop(self, a: dict, log: list) -> None:
        self._target(a).update(status="stopped", started=None)

    def _finish_qmshutdown(self, a: dict, log: list) -> None:
        if a.get("gave_up"):
            raise ApiError(500, "VM quit/powerdown failed - got timeout")
        self._finish_qmstop(a, log)

    def _finish_qmreboot(self, a: dict, log: list) -> None:
        vm = self._target(a)
        if vm["status"] == "running":
            vm["started"] = time.time()

    @_api(mutates=True)
    def destroy(self, p: dict, fault: dict | None = None) -> str:
        vm = self._vm(p["node"], p["vmid"])
        if vm["config"].get("protection"):
            raise ApiError(500, f"can't remove VM {p['vmid']} - protection mode enabled")
        if vm["status"] == "running":
            raise ApiError(500, f"VM {p['vmid']} is running - destroy failed")
        args = {k: p[k] for k in ("node", "vmid", "skiplock", "purge", "destroy-unreferenced-disks") if k in p}
        return self._task(p["node"], "qmdestroy", p["vmid"], args, fault)

    def _finish_qmdestroy(self, a: dict, log: list) -> None:
        vm = self._target(a)
        if vm["status"] == "running":
            raise ApiError(500, f"VM {a['vmid']} is running - destroy failed")
        log += [f'Logical volume "{v.split(",")[0].split(":")[1]}" successfully removed'
                for k, v in sorted(vm["config"].items()) if DISK.fullmatch(k) and ":" in v]
        del self.vms[a["vmid"]]

    # ---- tasks
    def _find_task(self, node: str, upid: str) -> dict:
        if not re.fullmatch(r"UPID:[\w\-]+:[0-9A-F]{8,9}:[0-9A-F]{8,9}:[0-9A-F]{8}:[^:\s]+:[^:\s]*:[^:\s]+:", upid, re.I):
            raise param_error({"upid": "unable to parse worker upid"})
        task = self.tasks.get(upid)
        if task is None or task["node"] != node:
            raise param_error({"upid": "no such task"})
        return task

    @_api()
    def task_status(self, node: str, upid: str) -> dict:
        task = self._find_task(node, upid)
        keys = ("upid", "node", "pid", "pstart", "starttime", "type", "id", "user", "status", "exitstatus")
        return {k: task[k] for k in keys if k in task}

    @_api()
    def task_log(self, node: str, upid: str, start: int = 0, limit: int = 50) -> list[dict]:
        lines = self._find_task(node, upid)["log"]
        return [{"n": n + 1, "t": t} for n, t in enumerate(lines)][start:start + limit]

    # ---- the sandbox's own view
    @_api()
    def inventory(self) -> list[dict]:
        out = []
        for vmid, vm in sorted(self.vms.items()):
            conf = vm["config"]
            out.append({
                "vmid": vmid, "node": vm["node"], "name": conf.get("name"), "status": vm["status"],
                "cores": conf.get("cores", 1), "memory": int(option(conf.get("memory", "512"), "current", "current")),
                "tags": [t for t in conf.get("tags", "").split(";") if t], "template": bool(conf.get("template")),
                "lock": conf.get("lock"), "sshkeys": unquote(conf["sshkeys"]) if "sshkeys" in conf else None,
                "ciuser": conf.get("ciuser"), "ipconfig0": conf.get("ipconfig0"), "pool": vm["pool"],
                "disks": {k: format_size(disk_size(v)) for k, v in sorted(conf.items()) if DISK.fullmatch(k) and "size=" in v},
                "ip": self._address(vm)[0], "description": conf.get("description")})
        return out
