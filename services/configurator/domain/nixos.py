"""The per-VM JSON the `nix/` modules read (documented in nix/README.md).

The configurator writes what it knows at planning time; the orchestrator adds the run-time facts
before deploying: `vm.address`, and per service `s3.*`, `admin.*` and `smtp.passwordFile`.
"""

from contracts.configuration import SERVICES, OperatorConfiguration
from contracts.resources import VmSpec

from .naming import host_name, relay_username, sender_address
from .policy import Policy


def vm_json(operator: str, config: OperatorConfiguration, policy: Policy, vm: VmSpec, services: tuple[str, ...]) -> dict:
    return {
        "fediversity": {
            "operator": operator,
            "domain": config.domain,
            "release": policy.release,
            "vm": {"name": vm.name, "cores": vm.cores, "memoryMiB": vm.memory_mib, "diskGiB": vm.disk_gib},
            "initialUser": config.initial_user.model_dump(mode="json", by_alias=True),
            **{
                name: _service(operator, name, config, policy) if name in services else {"enable": False}
                for name in SERVICES
            },
        }
    }


def _service(operator: str, service: str, config: OperatorConfiguration, policy: Policy) -> dict:
    section = {
        "enable": True,
        "hostName": host_name(service, config.domain),
        "options": config.service(service).model_dump(mode="json", by_alias=True, exclude={"enable", "data_on_disable"}),
    }
    relay = policy.mail_relay
    if relay.enabled:
        section["smtp"] = {
            "host": relay.host,
            "port": relay.port,
            "security": relay.security,
            "username": relay_username(operator, service),
            "fromAddress": sender_address(service, config.domain),
        }
    return section
