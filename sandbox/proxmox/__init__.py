"""A stand-in for the Proxmox VE API (HTTPS, API-token auth, async tasks, faults) for tests and demos."""

from .server import ProxmoxSandbox

__all__ = ["ProxmoxSandbox"]
