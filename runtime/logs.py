"""Structured JSON logs carrying the ids of the message being handled."""

import logging
import sys

import structlog

bind = structlog.contextvars.bind_contextvars
unbind = structlog.contextvars.unbind_contextvars
bound = structlog.contextvars.bound_contextvars


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (loggers are cached on first use: a stream
    taken at configure time would outlive a test's capture of stderr, or a redirection)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _TlsCloseNoise(logging.Filter):
    """asyncio warns on every TLS connection nats-py closes ("returning true from eof_received() has
    no effect when using ssl"): nothing is wrong, and it would drown what matters."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received()" not in record.getMessage()


def quiet_tls_close_noise() -> None:
    asyncio_logger = logging.getLogger("asyncio")
    if not any(isinstance(f, _TlsCloseNoise) for f in asyncio_logger.filters):
        asyncio_logger.addFilter(_TlsCloseNoise())


def configure(service: str, level: str = "INFO") -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    quiet_tls_close_noise()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    bind(service=service)


def get(name: str = "fedi"):
    return structlog.get_logger(name)
