"""Dead letters through JetStream's max-deliveries advisories, on a real nats-server: a message that
kills its service on every delivery is parked with a reason saying so, and the restarted service goes
on with what follows."""

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from uuid import uuid4

import nats
import pytest

from contracts import decode, encode
from contracts.events import ConfigSubmitted
from contracts.subjects import CONFIG_SUBMITTED, STREAM, dead_letter
from runtime.bus import DEAD_LETTER_CONSUMER, DEAD_LETTER_REASON
from runtime.dead_letters import DIED_WHILE_HANDLING
from runtime.stream import ensure_stream

pytestmark = pytest.mark.integration

SERVICE = """
import asyncio, os, sys
from pathlib import Path
from sqlalchemy import MetaData
from contracts.events import ConfigSubmitted
from runtime.bus import Bus
from runtime.db import Database
from runtime.settings import ServiceSettings
from runtime.tables import messaging_tables
from runtime.uow import UnitsOfWork

nats_url, database_url, handled = sys.argv[1], sys.argv[2], Path(sys.argv[3])

async def handle(event, uow):
    if event.revision == 1:
        os._exit(3)  # the process dies: no exception, no failure recorded by the handler
    with handled.open("a") as out:
        out.write(f"{event.revision}\\n")

async def main():
    metadata = MetaData()
    messaging_tables(metadata)
    database = Database(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    settings = ServiceSettings(nats_url=nats_url, max_deliveries=2, ack_wait_seconds=1.0, service_name="crashy")
    bus = Bus("crashy", settings, UnitsOfWork(database, metadata))
    bus.on(ConfigSubmitted, handle)
    await bus.start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


def submission(revision: int) -> ConfigSubmitted:
    return ConfigSubmitted(
        revision=revision, configuration={"domain": "example.org"}, correlation_id=f"dep-{uuid4()}", operator_id="acme", producer="panel"
    )


class Supervisor:
    """Restarts the service whenever it dies, as systemd or docker would."""

    def __init__(self, script: Path, args: list[str]) -> None:
        self.command = [sys.executable, str(script), *args]
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    def keep_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            if self.process is not None:
                self.restarts += 1
            root = str(Path(__file__).parents[2])
            self.process = subprocess.Popen(self.command, cwd=root, env=os.environ | {"PYTHONPATH": root})

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


async def test_a_message_that_kills_its_service_every_time_is_parked_and_the_service_goes_on(nats_server, tmp_path, eventually):
    script = tmp_path / "crashy.py"
    script.write_text(textwrap.dedent(SERVICE))
    handled = tmp_path / "handled"
    supervisor = Supervisor(script, [nats_server.url, f"sqlite+aiosqlite:///{tmp_path / 'crashy.db'}", str(handled)])
    connection = await nats.connect(nats_server.url)
    js = connection.jetstream()
    await ensure_stream(js)
    poison = submission(revision=1)
    try:
        await js.publish(CONFIG_SUBMITTED, encode(poison), stream=STREAM)

        async def parked():
            supervisor.keep_running()
            try:
                return await js.get_msg(STREAM, subject=dead_letter(CONFIG_SUBMITTED))
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(0.1)
                return None

        letter = await eventually(parked, "the poison message parked on the dead-letter subject", deadline=60)
        await js.publish(CONFIG_SUBMITTED, encode(submission(revision=2)), stream=STREAM)

        async def next_handled():
            supervisor.keep_running()
            return handled.exists() and handled.read_text()

        await eventually(next_handled, "the next message handled by the restarted service", deadline=30)
    finally:
        supervisor.stop()
        await connection.close()

    assert decode(letter.data) == poison
    assert letter.headers[DEAD_LETTER_REASON] == DIED_WHILE_HANDLING
    assert letter.headers[DEAD_LETTER_CONSUMER] == "crashy-config-submitted"
    assert handled.read_text().split() == ["2"]
    assert supervisor.restarts == 2
