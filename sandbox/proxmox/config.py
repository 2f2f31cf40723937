"""Values of a VM's configuration: sizes, property strings, NICs, SSH keys and the made-up
addresses a VM gets (never contacted)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import unquote

from .errors import ApiError

DISK = re.compile(r"(?:ide|sata|scsi|virtio|efidisk|tpmstate)\d+")
NET = re.compile(r"net\d+")
NET_OPTIONS = ("model", "macaddr", "bridge", "firewall", "link_down", "mtu", "queues", "rate", "tag", "trunks")
KEY_TYPES = {"ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", text)
    return int(float(m[1]) * UNITS[m[2]])


def format_size(size: int) -> str:
    return next((f"{size // UNITS[u]}{u}" for u in "TGMK" if size % UNITS[u] == 0), str(size))


def disk_size(spec: str) -> int:
    m = re.search(r"(?:^|,)size=([^,]+)", spec)
    return parse_size(m[1]) if m else 0


def fake_ip(vmid: int) -> str:
    """A deterministic address in 10.10.0.0/16 (never contacted)."""
    host = vmid % 65024
    return f"10.10.{host // 254}.{host % 254 + 1}"


HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key.pub"


def host_public_key(seed: str) -> str:
    """The VM's SSH host key (OpenSSH public form), derived from its seed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode() + " root@sandbox"


def fake_mac(vmid: int, nic: str = "net0") -> str:
    """A deterministic address in Proxmox's BC:24:11 range."""
    return "BC:24:11:" + ":".join(re.findall("..", hashlib.sha1(f"{vmid}/{nic}".encode()).hexdigest()[:6].upper()))


def option(spec: str, key: str, default_key: str | None = None) -> str | None:
    """`key` of a property string such as `enabled=1,type=virtio` (or its bare default-key value)."""
    for part in spec.split(","):
        k, eq, v = part.partition("=")
        if (eq and k == key) or (not eq and key == default_key):
            return v if eq else part
    return None


def normalise_net(spec: str, mac: str, force: bool = False) -> str:
    """Normalise a netN value to `<model>=<mac>,...`, giving it `mac` when it has none (or always)."""
    opts = {}
    for part in spec.split(","):
        k, eq, v = part.partition("=")
        if not eq:
            opts["model"] = k
        elif k in NET_OPTIONS:
            opts[k] = v
        else:
            opts["model"], opts["macaddr"] = k, v
    head = f"{opts.pop('model')}={mac if force else opts.get('macaddr', mac)}"
    opts.pop("macaddr", None)
    return ",".join([head, *(f"{k}={v}" for k, v in opts.items())])


def check_sshkeys(encoded: str) -> None:
    """Each line of the URL-decoded value must be an OpenSSH public key whose blob names its type."""
    for line in unquote(encoded).splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        kind = next((i for i, w in enumerate(words) if w in KEY_TYPES), None)
        try:
            blob = base64.b64decode(words[kind + 1], validate=True)
            ok = blob[4:4 + int.from_bytes(blob[:4], "big")] == words[kind].encode()
        except (TypeError, IndexError, ValueError):
            ok = False
        if not ok:
            raise ApiError(500, "SSH public key validation error")


def digest(conf: dict) -> str:
    return hashlib.sha1(json.dumps(conf, sort_keys=True).encode()).hexdigest()
