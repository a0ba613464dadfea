"""Building notification mail: pure (no I/O beyond reading templates, no clock, no network).

A notice becomes a `Mail` (rendered subject, text and HTML) and a `Mail` becomes an
`EmailMessage`. Sending, and the Date header that belongs to the moment of sending, live
in `notifications.sender`. The Message-ID is derived from the notice key so that a notice
sent twice (a retry after a dropped connection) is recognisably the same message.

Templates live in `notifications/templates/` as `<name>.subject.txt`, `<name>.txt` and
`<name>.html` (zh-CN). Files whose names start with "_" and `base.html` are partials.
Templates never receive a victim's name, phone or address: `render_mail` refuses context
keys that look like such data, and a unit test checks every variable the templates use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    meta,
    select_autoescape,
)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Variables a caller may leave out or set to None: the template omits the line (case_url)
# or falls back to the policy default (tracking_every_working_days: 7). Every other variable
# the templates use is required and must not be None.
OPTIONAL_VARIABLES = frozenset({"case_url", "tracking_every_working_days", "safety_note", "ack_url"})

NOTICE_HEADER = "X-Weiquan-Notice"
DEFAULT_MESSAGE_ID_DOMAIN = "weiquan.local"

# Headers to_email_message sets itself; Mail.headers may not override them.
_RESERVED_HEADERS = frozenset({"from", "to", "cc", "bcc", "subject", "message-id", "date",
                               "mime-version", "content-type", "content-transfer-encoding"})

# Context keys that smell of a party's personal data. Templates do not use them; refusing
# them here makes a caller's mistake loud instead of one template edit away from a leak.
_PERSONAL_DATA_KEY = re.compile(
    r"victim|applicant|complainant|client_name|party|parties|phone|mobile|address|"
    r"id_card|id_number|identity",
    re.IGNORECASE,
)
_TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_UNDEFINED_NAME = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")
_LINE_BREAK = re.compile(r"[\r\n]")


class TemplateError(ValueError):
    """A mail could not be rendered: unknown template, missing or None variable, bad key."""

    def __init__(self, message: str, *, template: str, variable: str | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.variable = variable


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "maintype/subtype", e.g. "text/csv"
    data: bytes

    def __post_init__(self) -> None:
        maintype, _, subtype = self.content_type.partition("/")
        if not maintype or not subtype or "/" in subtype:
            raise ValueError(
                f"attachment content_type must be 'type/subtype': {self.content_type!r}")
        _refuse_line_breaks(what="attachment filename", value=self.filename)


@dataclass(frozen=True)
class Mail:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    message_id: str  # stable: the same notice always has the same Message-ID
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = field(default=())

    def __post_init__(self) -> None:
        # Header values end up on the wire; a line break in one would inject headers.
        if not self.to:
            raise ValueError("a mail needs at least one recipient")
        for address in self.to:
            _refuse_line_breaks(what="recipient", value=address)
        _refuse_line_breaks(what="subject", value=self.subject)
        _refuse_line_breaks(what="message_id", value=self.message_id)
        for name, value in self.headers:
            _refuse_line_breaks(what=f"header {name!r}", value=f"{name}{value}")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by to_email_message, not by Mail.headers")


def message_id_for(*, notice_key: str, domain: str = DEFAULT_MESSAGE_ID_DOMAIN) -> str:
    """`<sha256-prefix.notice@domain>`: hashed so any key yields a well-formed Message-ID."""
    if not notice_key:
        raise ValueError("notice_key must not be empty")
    if not domain or re.search(r"[\s<>@]", domain):
        raise ValueError(f"invalid Message-ID domain: {domain!r}")
    digest = hashlib.sha256(notice_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.notice@{domain}>"


def render_mail(
    *, template: str, context: Mapping[str, Any], to: Sequence[str], notice_key: str
) -> Mail:
    """Render `template` (subject, text, HTML) for `to`; same inputs, same Mail."""
    if isinstance(to, str):  # a bare string is a sequence of characters: a classic slip
        raise TypeError("to must be a sequence of addresses, not a string")
    _check_template_name(template)
    _check_context_keys(template=template, context=context)
    _refuse_line_breaks(what="notice_key", value=notice_key)
    _check_required_variables(template=template, context=context)
    subject = _one_line(_render(template=template, file=f"{template}.subject.txt", context=context))
    if not subject:
        raise TemplateError(f"template {template!r} rendered an empty subject", template=template)
    return Mail(
        to=tuple(to),
        subject=subject,
        text=_render(template=template, file=f"{template}.txt", context=context),
        html=_render(template=template, file=f"{template}.html", context=context),
        message_id=message_id_for(notice_key=notice_key),
        headers=(
            (NOTICE_HEADER, notice_key),
            # RFC 3834: tells out-of-office responders not to answer a machine.
            ("Auto-Submitted", "auto-generated"),
        ),
    )


def to_email_message(mail: Mail, *, mail_from: str) -> EmailMessage:
    """multipart/alternative (text, HTML), inside multipart/mixed when there are attachments.

    No Date header: the sender stamps it when the message actually leaves.
    """
    _refuse_line_breaks(what="mail_from", value=mail_from)
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message["Message-ID"] = mail.message_id
    for name, value in mail.headers:
        message[name] = value
    message.set_content(mail.text, subtype="plain", charset="utf-8")
    message.add_alternative(mail.html, subtype="html", charset="utf-8")
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        # add_attachment turns the alternative part into multipart/mixed on first use.
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)
    return message


@lru_cache(maxsize=1)
def template_environment() -> Environment:
    """The one Environment (built once: it caches compiled templates)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        # Text mail is whitespace-sensitive: a block tag should not leave its own line behind.
        trim_blocks=True,
        lstrip_blocks=True,
        # A None column rendered as the word "None" would reach a cadre; fail instead.
        finalize=_refuse_none,
    )


class _NoneRendered(ValueError):
    pass


def _refuse_none(value: Any) -> Any:
    if value is None:
        raise _NoneRendered("a template expression rendered None")
    return value


def _render(*, template: str, file: str, context: Mapping[str, Any]) -> str:
    try:
        return template_environment().get_template(file).render(dict(context))
    except jinja2.TemplateNotFound as error:
        raise TemplateError(f"unknown mail template {template!r} (no {error.name})",
                            template=template) from error
    except jinja2.UndefinedError as error:
        variable = _undefined_variable(error)
        raise TemplateError(
            f"template {template!r} needs variable {variable!r} ({error.message})",
            template=template, variable=variable) from error
    except _NoneRendered as error:
        # Backstop only: _check_required_variables names None variables up front.
        raise TemplateError(f"template {template!r} would render None",
                            template=template) from error


def _check_required_variables(*, template: str, context: Mapping[str, Any]) -> None:
    """Name every missing or None variable at once, before anything is rendered."""
    used: set[str] = set()
    for suffix in (".subject.txt", ".txt", ".html"):
        used |= _variables_used(template=template, file=f"{template}{suffix}")
    required = used - OPTIONAL_VARIABLES
    missing = sorted(required - context.keys())
    if missing:
        raise TemplateError(f"template {template!r} needs variable(s) {missing}",
                            template=template, variable=missing[0])
    none_valued = sorted(name for name in required if context[name] is None)
    if none_valued:
        raise TemplateError(f"template {template!r}: variable(s) {none_valued} must not be None",
                            template=template, variable=none_valued[0])


@cache
def _variables_used(*, template: str, file: str) -> frozenset[str]:
    """Context variables `file` and the templates it extends, includes or imports read."""
    environment = template_environment()
    try:
        source, _, _ = environment.loader.get_source(environment, file)  # type: ignore[union-attr]
    except jinja2.TemplateNotFound as error:
        raise TemplateError(f"unknown mail template {template!r} (no {error.name})",
                            template=template) from error
    tree = environment.parse(source)
    used = set(meta.find_undeclared_variables(tree))
    for referenced in meta.find_referenced_templates(tree):
        if referenced is None:  # a computed name: our templates never do this
            raise TemplateError(f"{file} references a template by a computed name",
                                template=template)
        used |= _variables_used(template=template, file=referenced)
    return frozenset(used)


def _undefined_variable(error: jinja2.UndefinedError) -> str | None:
    match = _UNDEFINED_NAME.search(error.message or "")
    if match is None:
        return None
    return match.group(1) or match.group(2)


def _check_template_name(template: str) -> None:
    # Also keeps a caller-supplied name from wandering outside the templates directory.
    if not _TEMPLATE_NAME.match(template):
        raise TemplateError(f"invalid mail template name {template!r}", template=template)


def _check_context_keys(*, template: str, context: Mapping[str, Any]) -> None:
    for key in context:
        if _PERSONAL_DATA_KEY.search(key):
            raise TemplateError(
                f"context key {key!r} for template {template!r} looks like a party's personal "
                "data; mail must not carry it", template=template, variable=key)


def _one_line(rendered: str) -> str:
    return " ".join(rendered.split())


def _refuse_line_breaks(*, what: str, value: str) -> None:
    if _LINE_BREAK.search(value):
        raise ValueError(f"{what} must not contain line breaks")
