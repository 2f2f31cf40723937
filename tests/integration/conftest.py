"""Fixtures for integration tests on real servers that are system packages."""

import os

import pytest

from sandbox.pdns import PdnsServer, missing


@pytest.fixture
def pdns_installed() -> None:
    """pdns_server must be installed: the test is skipped without it, and fails under CI=true."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; it is required under CI=true")
    pytest.skip(reason)


@pytest.fixture
def pdns(tmp_path, pdns_installed):
    """A real PowerDNS Authoritative server with its zones in tmp_path/pdns."""
    with PdnsServer(tmp_path / "pdns", log_file=tmp_path / "pdns.log") as server:
        yield server
