"""How a service (or the operations tools) connects to the bus: its own user, TLS, its own inbox."""

import ssl


def connect_options(user: str = "", password: str = "", ca_file: str = "", inbox: str = "") -> dict:
    """Keyword arguments for nats.connect / NatsBroker."""
    options: dict = {}
    if user:
        options |= {"user": user, "password": password}
    if ca_file:
        options["tls"] = ssl.create_default_context(cafile=ca_file)
    if inbox:
        options["inbox_prefix"] = inbox
    return options


def broker_security(user: str = "", password: str = "", ca_file: str = ""):
    """The same, as faststream's `security=` for a NatsBroker."""
    from faststream.nats.security import NatsSecurity
    from faststream.security import SASLPlaintext

    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    if user:
        return SASLPlaintext(username=user, password=password, ssl_context=context)
    return NatsSecurity(ssl_context=context) if context else None
