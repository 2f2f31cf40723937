"""Runs one deploy-side command (nixos-rebuild, nixops4, the secrets delivery) in its own process
group, streaming each output line, redacted, as it is printed, and killing the group on timeout."""

import asyncio
import inspect
import os
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

OutputCallback = Callable[[str], Awaitable[None] | None]


class CommandFailed(Exception):
    """The command could not start, exited non-zero or timed out; `reason` is redacted already."""

    def __init__(self, reason: str, tail: Sequence[str] = (), timed_out: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.tail = tuple(tail)
        self.timed_out = timed_out


async def run_streaming(
    argv: Sequence[str],
    *,
    redact: Callable[[str], str],
    timeout: float,
    on_output: OutputCallback | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    tail_lines: int = 50,
) -> list[str]:
    """Returns the last `tail_lines` output lines; `stdin` is fed to the command, never shown."""
    tail: deque[str] = deque(maxlen=tail_lines)
    errors: deque[str] = deque(maxlen=tail_lines)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
            limit=1 << 20, env=os.environ | (env or {}), cwd=cwd,
        )
    except OSError as e:
        raise CommandFailed(f"cannot run {argv[0]!r}: {e.strerror}") from None

    async def pump(stream: asyncio.StreamReader, is_error: bool) -> None:
        async for raw in stream:
            line = redact(raw.decode(errors="replace").rstrip("\r\n"))
            tail.append(line)
            if is_error:
                errors.append(line)
            if on_output is not None and inspect.isawaitable(result := on_output(line)):
                await result

    async def feed() -> None:
        if stdin is None:
            return
        try:
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # a command that reads less than it is given says so through its exit status

    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(feed(), pump(proc.stdout, False), pump(proc.stderr, True))
            code = await proc.wait()
    except TimeoutError:
        raise CommandFailed(f"timed out after {timeout:g} s; last output: {_last(tail)}", tail, timed_out=True) from None
    finally:
        if proc.returncode is None:
            _kill_group(proc.pid)
            await proc.wait()
    if code != 0:
        raise CommandFailed(f"exit status {code}: {_error_summary(errors, tail)}", tail)
    return list(tail)


def redactor(secrets: Iterable[str]) -> Callable[[str], str]:
    """Masks every secret value (and each long line of a multi-line one) in a text."""
    fragments = {s for s in secrets if s}
    fragments |= {line.strip() for s in fragments for line in s.splitlines() if len(line.strip()) >= 8}
    ordered = sorted(fragments, key=len, reverse=True)

    def redact(text: str) -> str:
        for fragment in ordered:
            text = text.replace(fragment, "***")
        return text

    return redact


def _error_summary(errors: Sequence[str], tail: Sequence[str]) -> str:
    marked = [line for line in errors if line.startswith(("error:", "warning:"))]
    return _last(marked or [line for line in errors if line.strip()] or tail, 5)


def _last(lines: Sequence[str], count: int = 3) -> str:
    chosen = [line.strip() for line in list(lines)[-count:] if line.strip()]
    return " | ".join(chosen) if chosen else "no output"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
