"""Structured logs (structlog) and stdlib logs that never carry secrets or personal data: both go through the
rules of ``b24sync.redaction`` — structlog events by its processor, stdlib records (httpx, uvicorn, ours) by its
filter on every root handler — so a line is redacted the same whichever logger wrote it.
"""

from __future__ import annotations

import logging

import structlog

from b24sync.redaction import (RedactFilter, add_masker, escape_control, redact_event, redact_text,  # noqa: F401
                               redact_value)


def configure(level: int = logging.INFO, *, json: bool = False) -> None:
    logging.basicConfig(level=level, format="%(message)s")
    import b24sync.connectors.bitrix24.auth  # noqa: F401 - registers its secret masker (tokens, webhook codes)

    for handler in logging.getLogger().handlers:  # every record that reaches a root handler: escaped and masked
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Alembic's "Context impl SQLiteImpl / Will assume non-transactional DDL" on every open: only with -v (DEBUG).
    logging.getLogger("alembic").setLevel(logging.INFO if level <= logging.DEBUG else logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # a traceback becomes the `exception` text, redacted next
            redact_event,  # the same rules as RedactFilter on the stdlib handlers
            structlog.processors.JSONRenderer(ensure_ascii=False) if json else
            structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )


def uvicorn_config(app: object, **kw: object) -> object:
    """A ``uvicorn.Config`` whose loggers (``uvicorn``, ``uvicorn.error``, ``uvicorn.access``) write through the root
    handlers — and so through ``RedactFilter`` — instead of the handlers uvicorn's own logging config installs,
    which no filter of ours would see (an "Exception in ASGI application" traceback, an access line)."""
    import uvicorn

    config = uvicorn.Config(app, log_config=None, **kw)  # type: ignore[arg-type]
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        for h in lg.handlers[:]:  # left by an earlier Config in this process (tests, a sandbox)
            lg.removeHandler(h)
        lg.propagate = True
    return config
