"""structlog JSON logging with request context and a redactor for secrets and personal data."""

from __future__ import annotations

import logging
import re
import sys

import structlog

# Keys whose values are never logged, whatever their content.
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "phone",
        "email",
        "id_number",
        "legal_name",
        "pin",
        "identifier",
        "subject",
        "amqp_url",
    }
)

# Values that look like personal data or credentials are masked wherever they appear. Masking
# must cost time linear in the text, whatever a caller puts in it: every pattern starts only at
# a token boundary (a lookbehind) and every repetition is bounded, so no start position scans
# more than a few hundred characters and no pattern backtracks over the whole text.
_PATTERNS = [
    re.compile(r"(?<![\w-])eyJ[\w-]{1,4096}\.[\w-]{1,4096}\.[\w-]{1,4096}"),  # JWT
    re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"),  # e-mail
    # ID or card number: 11-19 digits standing alone (not a group inside a UUID or a word)
    re.compile(r"(?<![\w-])\+?\d{11,19}[\dXx]?(?![\w-])"),
    # phone numbers as people write them: +86 138 1234 5678, 138-1234-5678
    re.compile(r"(?<![\w-])(?:\+\d{1,3}[ -]?)?1\d{2}[ -]\d{4}[ -]\d{4}(?![\w-])"),
    re.compile(r"(?i)(?<![a-z])(amqps?|postgres(?:ql)?)://[^@\s/]{0,256}@"),  # URL credentials
]
# A logged string longer than this is cut before it is masked: a log line is no place for a
# megabyte, and the cut bounds the work of one line.
MAX_VALUE_LENGTH = 4096


def _mask(value: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        value = f"{value[:MAX_VALUE_LENGTH]}…[{len(value) - MAX_VALUE_LENGTH} more characters]"
    for pattern in _PATTERNS:
        value = pattern.sub("[redacted]", value)
    return value


def _sensitive(key) -> bool:
    """`refreshToken` (proto3 JSON) and `refresh_token` name the same secret."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", str(key)).lower() in SENSITIVE_KEYS


def _scrub(value):
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, dict):
        return {k: "[redacted]" if _sensitive(k) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact(_logger, _method, event_dict):
    """structlog processor: keep secrets and personal data out of every log line."""
    return _scrub(event_dict)


def _processors():
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


def json_formatter() -> logging.Formatter:
    """The formatter every handler uses: JSON lines, redacted (also for stdlib loggers)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact,
            structlog.processors.JSONRenderer(),
        ],
    )


def configure(service: str, level: str = "INFO") -> None:
    """Route structlog and stdlib logging to JSON lines on stdout."""
    structlog.configure(
        # A line below the level is dropped first, before the processors (redaction included)
        # spend time on it: the gRPC interceptor logs every call at INFO.
        processors=[
            structlog.stdlib.filter_by_level,
            *_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiormq", "aio_pika", "yoyo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def bind(**values) -> None:
    structlog.contextvars.bind_contextvars(**values)


get = structlog.get_logger
