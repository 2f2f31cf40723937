"""Serves an ASGI app inside a service process whose signals the service runner owns."""

import asyncio
import contextlib

import uvicorn


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def serve_http(app, host: str, port: int) -> None:
    server = _EmbeddedServer(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off"))
    try:
        await server.serve()
    except asyncio.CancelledError:
        server.should_exit = True
        raise
