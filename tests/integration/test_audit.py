"""The audit log on a real nats-server: records kept apart from the event stream, filtered by actor,
action and time, and impossible to delete or purge through the bus."""

from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.js.errors import APIError

from contracts.subjects import STREAM
from runtime.audit import AUDIT_STREAM, AuditRecord, ensure_audit_stream, read, record, record_once
from runtime.stream import ensure_stream

pytestmark = pytest.mark.integration


@pytest.fixture
async def js(nats_server):
    connection = await nats.connect(nats_server.url)
    js = connection.jetstream()
    await ensure_stream(js)
    await ensure_audit_stream(js)
    yield js
    await connection.close()


async def test_records_are_read_back_filtered_by_actor_action_and_time(nats_server, js):
    old = datetime.now(UTC) - timedelta(days=40)
    await record(js, AuditRecord(source="panel", actor="alice@acme.org", action="login", at=old))
    await record(js, AuditRecord(source="panel", actor="alice@acme.org", action="credentials.revealed", target="acme/mastodon"))
    await record(js, AuditRecord(source="panel", actor="mallory@evil.org", action="login.failed", outcome="refused"))
    await record_once(nats_server.url, AuditRecord(source="cli", actor="ops", action="dlq.replayed", target="#12"))

    assert [r.action for r in await read(nats_server.url)] == ["login", "credentials.revealed", "login.failed", "dlq.replayed"]
    assert [r.action for r in await read(nats_server.url, actor="alice@acme.org")] == ["login", "credentials.revealed"]
    assert [r.actor for r in await read(nats_server.url, action="login")] == ["alice@acme.org", "mallory@evil.org"]
    recent = await read(nats_server.url, since=datetime.now(UTC) - timedelta(days=1))
    assert [r.action for r in recent] == ["credentials.revealed", "login.failed", "dlq.replayed"]


async def test_the_audit_log_is_not_in_the_event_stream_and_cannot_be_deleted_or_purged(js):
    await record(js, AuditRecord(source="panel", actor="alice@acme.org", action="config.submitted", target="acme"))

    assert (await js.stream_info(STREAM)).state.messages == 0
    assert (await js.stream_info(AUDIT_STREAM)).state.messages == 1
    with pytest.raises(APIError):
        await js.delete_msg(AUDIT_STREAM, 1)
    with pytest.raises(APIError):
        await js.purge_stream(AUDIT_STREAM)
    assert (await js.stream_info(AUDIT_STREAM)).state.messages == 1


def test_an_action_name_that_is_not_a_dotted_word_is_refused():
    with pytest.raises(ValueError):
        AuditRecord(source="cli", actor="ops", action="drop table; --")
