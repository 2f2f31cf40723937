"""Generated passwords, and the salted hashes a directory stores in `userPassword`."""

import base64
import hashlib
import hmac
import os
import secrets

CLEARTEXT = "{CLEARTEXT}"
SCHEMES = {"{SSHA}": hashlib.sha1, "{SSHA256}": hashlib.sha256, "{SSHA512}": hashlib.sha512}


def generate_password() -> str:
    """192 random bits, URL-safe (fits config files and SMTP AUTH without quoting)."""
    return secrets.token_urlsafe(24)


def ssha(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def hashed(uid: str, value: str) -> str:
    """A `userPassword` read from an operator's directory, as ours keeps it: a value with a scheme
    ({SSHA}, {CRYPT}, ...) as it is, a clear-text one (no scheme, or {CLEARTEXT}) salted and hashed.
    The salt comes from the user and the password, so the same password hashes the same at every
    sync and is not rewritten each time."""
    if value[: len(CLEARTEXT)].upper() == CLEARTEXT:
        value = value[len(CLEARTEXT) :]
    elif value.startswith("{") and "}" in value:
        return value
    return ssha(value, hashlib.sha256(f"{uid}\0{value}".encode()).digest()[:16])


def verify(password: str, stored: str) -> bool:
    """Checks a password against a `userPassword` value as OpenLDAP does for the salted SHA schemes."""
    scheme = next((name for name in SCHEMES if stored.upper().startswith(name)), None)
    if scheme is None:
        return False
    algorithm = SCHEMES[scheme]
    try:
        raw = base64.b64decode(stored[len(scheme) :], validate=True)
    except ValueError:
        return False
    size = algorithm().digest_size
    digest, salt = raw[:size], raw[size:]
    return hmac.compare_digest(algorithm(password.encode() + salt).digest(), digest)
