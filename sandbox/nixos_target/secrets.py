"""The secret files each sandbox host holds, as a real host's /run/fediversity/secrets would: what
the orchestrator's secrets command delivered (a tar archive on stdin), replacing what was there."""

import os
import re
import shutil
import tarfile
from pathlib import Path
from typing import BinaryIO

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SecretsRefused(Exception):
    """The archive cannot be the host's secrets folder; the message says why."""


def held(state_dir: str | os.PathLike, host: str) -> Path:
    """The host's secrets folder (it may not exist: nothing was delivered)."""
    if not host or host in (".", "..") or "/" in host:
        raise SecretsRefused(f"{host!r} is not a host address")
    return Path(state_dir) / "hosts" / host / "run" / "fediversity" / "secrets"


def receive(state_dir: str | os.PathLike, host: str, archive: BinaryIO) -> list[str]:
    """Unpacks `archive` as the host's secrets folder (0700, files 0600); returns the names held."""
    target = held(state_dir, host)
    incoming = target.with_name(".secrets.incoming")
    target.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    shutil.rmtree(incoming, ignore_errors=True)
    incoming.mkdir(mode=0o700)
    names = []
    try:
        with tarfile.open(fileobj=archive, mode="r|") as tar:
            for member in tar:
                if not member.isfile() or not _NAME.fullmatch(member.name):
                    raise SecretsRefused(f"{member.name!r} is not a plain secret file")
                fd = os.open(incoming / member.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(tar.extractfile(member), out)
                names.append(member.name)
    except tarfile.TarError as e:
        shutil.rmtree(incoming, ignore_errors=True)
        raise SecretsRefused(f"the secrets are not a tar archive: {e}") from None
    except SecretsRefused:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(incoming, target)
    return sorted(names)
