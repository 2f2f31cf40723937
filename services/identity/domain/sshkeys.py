"""SSH deploy key pairs (ed25519): the public half goes into VMs, the private half stays encrypted."""

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    public: str
    """OpenSSH authorized_keys line: `ssh-ed25519 AAAA... <comment>`."""
    private: str
    """OpenSSH private key (PEM-like, unencrypted: it is encrypted at rest by the secret store)."""


def generate_key_pair(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return KeyPair(public=f"{public} {comment}", private=private)
