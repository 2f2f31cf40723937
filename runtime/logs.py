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


def configure(service: str, level: str = "INFO") -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
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
