"""Stable resource ids and deterministic names, derived from operator, service and kind only.

A resource id is `<operator>/<service>/<kind>[/<role>]`:
- `<service>` is mastodon, peertube or pixelfed, or `_` for what belongs to the operator as a
  whole (the SSH deploy key, the mail DNS records, the shared VM when services are combined);
- `<kind>` is always the third part (vm, bucket, account, mail, sshkey, dns, nixos);
- `<role>` tells records of one kind apart: dns `host` (a service's address record), `spf`, `mx`.
"""

OPERATOR_WIDE = "_"
COMBINED = "fedi"
"""The name part of the one VM that runs every service of an operator (`<operator>-fedi`)."""

TITLES = {"mastodon": "Mastodon", "peertube": "PeerTube", "pixelfed": "Pixelfed"}


def resource_id(operator: str, service: str, kind: str, role: str | None = None) -> str:
    return f"{operator}/{service}/{kind}" + (f"/{role}" if role else "")


def kind_of(rid: str) -> str:
    return rid.split("/")[2]


def vm_name(operator: str, service: str) -> str:
    return f"{operator}-{COMBINED if service == OPERATOR_WIDE else service}"


BUCKET_PREFIX = "fedi-"
"""Every bucket the configurator creates is named with it; a bucket the provider assigns may not be."""


def bucket_name(operator: str, service: str) -> str:
    return f"{BUCKET_PREFIX}{operator}-{service}"


def relay_username(operator: str, service: str) -> str:
    return f"{operator}-{service}"


def sender_address(service: str, domain: str) -> str:
    return f"{service}@{domain}"


def deploy_key_name(operator: str, generation: int = 1) -> str:
    """A new generation is a new key (a security rekey): the old one is removed from every VM."""
    return f"{operator}-deploy" if generation == 1 else f"{operator}-deploy-g{generation}"


def host_name(service: str, domain: str) -> str:
    return f"{service}.{domain}"


def title(service: str) -> str:
    return TITLES.get(service, service)


def listing(services) -> str:
    """`Mastodon`, `Mastodon and PeerTube`, `Mastodon, PeerTube and Pixelfed`."""
    names = [title(service) for service in services]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
