"""The lines `nixos-rebuild switch` prints, derived from what changes on the VM."""

UNITS = {
    "mastodon": ["mastodon-sidekiq-all.service", "mastodon-streaming.target", "mastodon-web.service"],
    "peertube": ["peertube.service"],
    "pixelfed": ["phpfpm-pixelfed.service", "pixelfed-horizon.service"],
}


def _units(services) -> list[str]:
    return sorted(unit for service in services for unit in UNITS[service])


def build_lines(previous: dict | None, config_hash: str, services: list[str]) -> list[str]:
    changed = previous is None or previous["configHash"] != config_hash
    paths = 0 if not changed else 24 + 37 * len(services) + int(config_hash[:2], 16) % 16
    return ["building the system configuration...", f"copying {paths} paths..."]


def activation_lines(previous: dict | None, config_hash: str, services: list[str]) -> list[str]:
    changed = previous is None or previous["configHash"] != config_hash
    before = set(previous["services"]) if previous else set()
    lines = [
        "activating the configuration...",
        "setting up /etc...",
        "reloading user units for root...",
        "setting up tmpfiles",
    ]
    for verb, units in (
        ("stopping", _units(before - set(services))),
        ("reloading", ["nginx.service"] if changed and services else []),
        ("restarting", _units(before & set(services)) if changed else []),
        ("starting", _units(set(services) - before)),
    ):
        if units:
            lines.append(f"{verb} the following units: {', '.join(units)}")
    return lines
