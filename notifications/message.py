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

import base64
import binascii
import email
import email.policy
import email.utils
import hashlib
import re
import urllib.parse
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
    """The message `to_wire_bytes` puts on the wire, as an EmailMessage (no Date header)."""
    return email.message_from_bytes(to_wire_bytes(mail, mail_from=mail_from, date=None),
                                    policy=email.policy.default)


def to_wire_bytes(mail: Mail, *, mail_from: str, date: str | None) -> bytes:
    """RFC 5322 bytes (CRLF): multipart/alternative (text, HTML), inside multipart/mixed
    when there are attachments; `date` (an RFC 5322 date) becomes the Date header.

    Written directly rather than through `email.message.EmailMessage`: building and
    flattening that object costs about 2 ms of Python per mail, more than the SMTP exchange
    itself on loopback, and the structure of our mail never varies. Every part is base64
    (so no body line can look like a boundary) and every non-ASCII header is RFC 2047.
    """
    _refuse_line_breaks(what="mail_from", value=mail_from)
    head = [
        _header_line("From", mail_from, address=True),
        _header_line("To", ", ".join(mail.to), address=True),
        _header_line("Subject", mail.subject),
        _header_line("Message-ID", mail.message_id),
    ]
    if date is not None:
        head.append(_header_line("Date", date))
    head.extend(_header_line(name, value) for name, value in mail.headers)
    head.append(b"MIME-Version: 1.0\r\n")
    alternative = _multipart("alternative", _ALTERNATIVE_BOUNDARY, [
        _text_part("plain", mail.text), _text_part("html", mail.html)])
    if mail.attachments:
        body = _multipart("mixed", _MIXED_BOUNDARY, [
            alternative, *(_attachment_part(a) for a in mail.attachments)])
    else:
        body = alternative
    return b"".join(head) + body


# Boundaries may be fixed: every part is base64, whose alphabet has no "_" or ".".
_ALTERNATIVE_BOUNDARY = b"=_weiquan.alternative_"
_MIXED_BOUNDARY = b"=_weiquan.mixed_"
# An encoded word may be 75 characters: "=?utf-8?b?" + base64 of 45 bytes (60) + "?=".
_ENCODED_WORD_BYTES = 45


def _header_line(name: str, value: str, *, address: bool = False) -> bytes:
    if value.isascii():
        return f"{name}: {value}\r\n".encode("ascii")
    if address:
        # Rare (a display name or an internationalised address): the standard library knows
        # which parts of an address may be encoded; a non-ASCII mailbox itself stays raw
        # UTF-8, which the sender announces with SMTPUTF8 (RFC 6531).
        mailboxes = (address for _, address in email.utils.getaddresses([value]))
        policy = (email.policy.SMTP if all(mailbox.isascii() for mailbox in mailboxes)
                  else email.policy.SMTPUTF8)
        return policy.fold_binary(name, policy.header_factory(name, value))
    return f"{name}: ".encode("ascii") + b"\r\n ".join(_encoded_words(value)) + b"\r\n"


def _encoded_words(value: str) -> list[bytes]:
    """RFC 2047 base64 words of at most 45 UTF-8 bytes each, never splitting a character."""
    words: list[bytes] = []
    chunk = bytearray()
    for character in value:
        encoded = character.encode("utf-8")
        if len(chunk) + len(encoded) > _ENCODED_WORD_BYTES:
            words.append(b"=?utf-8?b?" + binascii.b2a_base64(bytes(chunk), newline=False) + b"?=")
            chunk.clear()
        chunk += encoded
    words.append(b"=?utf-8?b?" + binascii.b2a_base64(bytes(chunk), newline=False) + b"?=")
    return words


def _base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _text_part(subtype: str, text: str) -> bytes:
    return (f"Content-Type: text/{subtype}; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode("ascii") + _base64_lines(
                text.encode("utf-8"))


def _attachment_part(attachment: Attachment) -> bytes:
    filename = attachment.filename
    if filename.isascii() and '"' not in filename and "\\" not in filename:
        disposition = f'filename="{filename}"'
    else:  # RFC 2231: charset and percent-encoded UTF-8
        disposition = f"filename*=utf-8''{urllib.parse.quote(filename, safe='')}"
    return (f"Content-Type: {attachment.content_type}\r\n"
            f"Content-Disposition: attachment; {disposition}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode("ascii") + _base64_lines(
                attachment.data)


def _multipart(subtype: str, boundary: bytes, parts: list[bytes]) -> bytes:
    delimiter = b"--" + boundary
    out = [b"Content-Type: multipart/" + subtype.encode("ascii") + b'; boundary="' + boundary
           + b'"\r\n\r\n']
    for part in parts:
        out.append(delimiter + b"\r\n" + part + (b"" if part.endswith(b"\r\n") else b"\r\n"))
    out.append(delimiter + b"--\r\n")
    return b"".join(out)


@lru_cache(maxsize=1)
def template_environment() -> Environment:
    """The one Environment (built once: it caches compiled templates)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # Templates ship with the code: checking each file's mtime on every render (three
        # stat calls a mail) cost a quarter of rendering. A restart picks up an edit.
        auto_reload=False,
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
