"""The operator's mails about the machinery: the outbox behind. Counts, waits and reasons
only — no case, no person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from models.db.orm import Notice
from models.domain.notice_kinds import template_of
from models.domain.vocabulary import vocabulary
from models.service.backlog import episode_facts
from models.service.mail_content.common import local_text
from notifications.message import Mail, render_mail


def backlog_mail(session: Session, *, notice: Notice, as_of: datetime) -> Mail:
    """What the sweep that began the episode saw (the mail may go much later: it waits for
    the same relay), and when it went."""
    seen = episode_facts(session, key=notice.key)
    context = {
        "began_at": local_text(notice.due_at), "sent_at": local_text(as_of),
        "late": seen["late"], "waiting": seen["waiting"],
        "oldest_wait_minutes": seen["oldest_wait_minutes"],
        "threshold_minutes": seen["threshold_minutes"],
        "reason_label": vocabulary().label("outbox_delays", str(seen["reason"])),
        "act_command": "weiquan status",
    }
    return render_mail(template=template_of(notice.kind), context=context,
                       to=[notice.to_address], notice_key=notice.key)
