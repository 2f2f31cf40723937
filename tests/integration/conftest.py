"""Fixtures for integration tests on real servers that are system packages."""

import pytest

from sandbox.pdns import PdnsServer, missing
from tests.conftest import require


@pytest.fixture
def pdns_installed() -> None:
    require(missing())


@pytest.fixture
def pdns(tmp_path, pdns_installed):
    """A real PowerDNS Authoritative server with its zones in tmp_path/pdns."""
    with PdnsServer(tmp_path / "pdns", log_file=tmp_path / "pdns.log") as server:
        yield server
