"""The orchestrator's SSH deploy key: made once, kept in the data folder (private part 0600)."""

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def deploy_public_key(data_dir: Path) -> str:
    private_path = data_dir / "deploy_key"
    public_path = data_dir / "deploy_key.pub"
    if not public_path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(private)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        public_path.write_text(public.decode() + " fediversity-orchestrator\n")
    return public_path.read_text().strip()
