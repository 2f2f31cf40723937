"""A throwaway OpenLDAP server (the real `slapd` from Debian's package) on a free port, for the tests,
the benchmark and the embedded stack. Its data and its root password stay in `data_dir`, so a
restarted server keeps its entries.

    directory = Slapd(tmp_path / "ldap").start()
    directory.url, directory.bind_dn, directory.password, directory.suffix
    directory.stop()
"""

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")


class SlapdMissing(RuntimeError):
    """slapd or its schemas are not installed (Debian: apt-get install slapd ldap-utils)."""


def missing() -> str | None:
    """Why no slapd can be started here, or None."""
    try:
        slapd_binary()
    except SlapdMissing as exc:
        return str(exc)
    if not (SCHEMA_DIR / "inetorgperson.schema").exists():
        return f"LDAP schemas not found in {SCHEMA_DIR}: install slapd"
    return None


def slapd_binary() -> Path:
    for candidate in (Path("/usr/sbin/slapd"), shutil.which("slapd")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise SlapdMissing("slapd not found: install it with `apt-get install slapd ldap-utils` (scripts/install-system-deps)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


RELAY = "cn=relay"
"""The provider's mail relay's own account, directly under the suffix: it looks relay logins up."""
_REGEX_SPECIAL = set("\\.[]()*+?{}|^$")


def access_rules(suffix: str) -> str:
    """The ACL the provider's directory needs (nix/README.md shows it for production): each operator's
    reader `cn=reader,ou=<operator>,<suffix>` reads that operator's subtree and nothing else; the
    provider's mail relay (`cn=relay,<suffix>`) finds relay accounts by login and nothing else; no one
    reads a password (binding checks it), a user reads its own entry; identity writes as the rootdn."""
    pattern = "".join("\\" + c if c in _REGEX_SPECIAL else c for c in suffix.lower())
    relay = f"{RELAY},{suffix.lower()}"
    return f"""access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.base="{suffix.lower()}" attrs=entry
    by dn.exact="{relay}" search
    by * break
access to dn.regex="^uid=[^,]+,ou=mail,ou=[^,]+,{pattern}$" attrs=entry,uid,employeeType
    by dn.exact="{relay}" read
    by * break
access to dn.regex="^(.+,)?ou=([^,]+),{pattern}$"
    by dn.exact,expand="cn=reader,ou=$2,{suffix.lower()}" read
    by self read
    by * none
access to *
    by * none
"""


def _rdn_value(dn: str) -> tuple[str, str]:
    attribute, value = dn.split(",", 1)[0].split("=", 1)
    return attribute, value


@dataclass
class Slapd:
    data_dir: Path
    suffix: str = "dc=fedi,dc=test"
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def bind_dn(self) -> str:
        return f"cn=admin,{self.suffix}"

    @property
    def password(self) -> str:
        path = self.data_dir / "rootpw"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(18))
            path.chmod(0o600)
        return path.read_text().strip()

    def start(self, timeout: float = 15.0) -> "Slapd":
        binary = slapd_binary()
        if not (SCHEMA_DIR / "inetorgperson.schema").exists():
            raise SlapdMissing(f"LDAP schemas not found in {SCHEMA_DIR}: install slapd")
        (self.data_dir / "db").mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        fresh = not (self.data_dir / "db" / "data.mdb").exists()
        if fresh:
            self._slapadd(config, self._base_ldif())
        log = open(self.data_dir / "slapd.log", "ab")
        self.process = subprocess.Popen(
            [str(binary), "-d", "0", "-h", f"{self.url}/", "-f", str(config)], stdout=log, stderr=log
        )
        log.close()
        self._wait_ready(timeout)
        return self

    def load(self, ldif: str) -> None:
        """Adds entries offline (slapadd), much faster than over the protocol; only while stopped."""
        if self.process and self.process.poll() is None:
            raise RuntimeError("slapadd needs the server stopped")
        self._slapadd(self._write_config(), ldif)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    # -- internals ----------------------------------------------------------------------------------

    def _write_config(self) -> Path:
        hashed = subprocess.run(
            [str(slapd_binary().parent / "slappasswd"), "-s", self.password],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        includes = "\n".join(f"include {SCHEMA_DIR / name}.schema" for name in SCHEMAS)
        config = self.data_dir / "slapd.conf"
        config.write_text(
            f"""{includes}
pidfile {self.data_dir / 'slapd.pid'}
modulepath {MODULE_DIR}
moduleload back_mdb
sizelimit unlimited
password-hash {{SSHA}}

database mdb
maxsize 1073741824
suffix "{self.suffix}"
rootdn "{self.bind_dn}"
rootpw {hashed}
directory {self.data_dir / 'db'}
index objectClass eq
index uid,cn,member,memberUid eq
{access_rules(self.suffix)}"""
        )
        config.chmod(0o600)
        return config

    def _base_ldif(self) -> str:
        attribute, value = _rdn_value(self.suffix)
        classes = {"dc": ("dcObject", "organization"), "o": ("organization",), "ou": ("organizationalUnit",)}[attribute]
        lines = [f"dn: {self.suffix}", *(f"objectClass: {c}" for c in classes), f"{attribute}: {value}"]
        if attribute == "dc":
            lines.append(f"o: {value}")
        return "\n".join(lines) + "\n"

    def _slapadd(self, config: Path, ldif: str) -> None:
        slapadd = slapd_binary().parent / "slapadd"
        result = subprocess.run(
            [str(slapadd), "-q", "-f", str(config)], input=ldif, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"slapadd failed: {result.stderr.strip()}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.data_dir / "slapd.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"slapd exited with code {self.process.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"slapd did not listen on port {self.port} within {timeout:.0f}s")
