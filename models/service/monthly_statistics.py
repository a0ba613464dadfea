"""The supervisors' monthly statistics mail, rendered when it is sent.

Planned by `models.service.digests.plan_monthly_statistics` (one notice per supervisor per
month, from 08:30 of the month's first working day); built here from the rows as they are
at send time: last month's counts for her subtree in the body, and the same statistics
workbook the board's 统计 download gives (`models.service.exports.statistics_xlsx`, audited
as an export) attached. Counts only: the workbook and the mail name jurisdictions, never a
person.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from sqlalchemy.orm import Session

from models.db.orm import Notice
from models.domain.notice_kinds import template_of
from models.domain.statistics import monthly_mail_context, preset_period
from models.service.exports import statistics_filename, statistics_xlsx
from models.service.xlsx import XLSX_MEDIA_TYPE
from notifications.message import Attachment, Mail, render_mail


def monthly_statistics_mail(session: Session, *, notice: Notice, day: date, as_of: datetime,
                            actor: str, public_url: str) -> Mail:
    """`day` is the month's first working day (from the notice's key): the mail covers the
    month before it. Raises InputError when her jurisdiction has left the registry."""
    period = preset_period("last_month", today=day)
    report, data = statistics_xlsx(session, under=notice.recipient_jurisdiction, period=period,
                                   now=as_of, actor=actor, mailed_as=notice.key)
    filename = statistics_filename(report)
    context = monthly_mail_context(name=report.name, under=report.under, period=period,
                                   tally=report.root.tally, public_url=public_url,
                                   attachment_name=filename)
    mail = render_mail(template=template_of(notice.kind), context=context,
                       to=[notice.to_address], notice_key=notice.key)
    return replace(mail, attachments=(Attachment(filename=filename, content_type=XLSX_MEDIA_TYPE,
                                                 data=data),))
