"""Generated passwords, and the salted hashes a directory stores in `userPassword`."""

import base64
import hashlib
import hmac
import os
import secrets

SCHEMES = {"{SSHA}": hashlib.sha1, "{SSHA256}": hashlib.sha256, "{SSHA512}": hashlib.sha512}


def generate_password() -> str:
    """192 random bits, URL-safe (fits config files and SMTP AUTH without quoting)."""
    return secrets.token_urlsafe(24)


def ssha(password: str, salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


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
