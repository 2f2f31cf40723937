"""Shared fixtures: a private nats-server per test, and a way to wait for things without sleeping blindly."""

import asyncio
import os
import subprocess
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from runtime.nats_server import NatsServer


@pytest.fixture
def nats_server(tmp_path):
    """A fresh nats-server with JetStream on free ports, so no test sees another's stream or consumers."""
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


def require(missing: str | None) -> None:
    """A system package a test needs: without it the test is skipped, and under CI=true it fails."""
    if missing is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{missing}; it is required under CI=true")
    pytest.skip(missing)


async def ask_secret(nats_url: str, options: dict, ref: str, requester: str, owner: str | None = None) -> "SecretReply":
    """A secret.get request as `requester` would send it: its reply under that service's inbox."""
    import nats

    from contracts.requests import SecretReply, SecretRequest
    from contracts.subjects import secret_get
    from runtime.permissions import inbox_prefix

    connection = await nats.connect(nats_url, **(options | {"inbox_prefix": inbox_prefix(requester)}))
    try:
        owner = owner or ref.removeprefix("secret://").split("/", 1)[0]
        reply = await connection.request(secret_get(owner), SecretRequest(ref=ref, requester=requester).model_dump_json().encode(), timeout=10)
    finally:
        await connection.close()
    return SecretReply.model_validate_json(reply.data)


def stop_process(process, timeout: float = 10) -> None:
    """Asks a service started by a test to stop (SIGTERM), kills it when it does not within `timeout`."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def blocking(coroutine):
    """Runs a coroutine to its end from synchronous code, even where a loop already runs in this
    thread (an async test, or Playwright's sync API)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _eventually(check: Callable[[], Awaitable], what: str, deadline: float = 15.0):
    """Poll `check` until it returns something truthy; fail saying `what` never happened."""
    until = time.monotonic() + deadline
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > until:
            pytest.fail(f"gave up waiting: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def eventually():
    """`await eventually(check, "what should happen")`: polls with a deadline instead of sleeping."""
    return _eventually
