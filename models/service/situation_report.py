"""The 情况报告 (000, 如何撰写情况报告) as a .docx, and the facts of a case's handling that it,
附表4 and 附表5 read: verification, referrals and their results, mediations, visits,
protective measures, the answer and the follow-up after closing.

The document is built in code with python-docx (no template file to keep in step): its styles
carry the Chinese font in `w:eastAsia`, which python-docx cannot set through its API and Word
and LibreOffice need to pick a CJK face (the Latin font name alone leaves them guessing).
Writing one is audited (`situation_report_written`): a matter owing a report is done when
that event exists (models/service/due_items.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.db import repositories as repo
from models.db.orm import AuditEvent, Case, FollowUp, Mediation, ProtectiveMeasure, Referral, Verification, Visit
from models.db.session import unit_of_work
from models.domain.access import Role
from models.domain.calendar import SHANGHAI
from models.domain.errors import InputError
from models.domain.jurisdiction import is_within
from models.domain.ledgers import Requester
from models.domain.referrals import AWAITING_FEEDBACK
from models.domain.situation_report import (
    REPORT_WRITTEN,
    HelpFact,
    ReportFacts,
    VerificationFact,
    gap,
    report_source,
    sections,
    title,
)
from models.domain.vocabulary import vocabulary
from models.service.visits import active_plan
from models.service.xlsx import staged_output

log = logging.getLogger(__name__)

BODY_FONT, HEADING_FONT = "仿宋", "黑体"  # 公文 conventions: 仿宋 body, 黑体 headings
LATIN_FONT = "Times New Roman"
REPORT_DATE = "报告日期"


def _local(instant: datetime) -> str:
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def case_facts(session: Session, case: Case) -> ReportFacts:
    """What the record holds about the matter's handling, in words people read."""
    voc = vocabulary()
    source = report_source(channel=case.channel, risk_indicators=case.risk_indicators) \
        or voc.label("channels", case.channel)
    checks = [VerificationFact(v.verified_at, voc.label("verification_methods", v.method.value),
                               v.with_whom, v.findings, voc.label("veracity", v.veracity.value),
                               voc.label("reasonableness", v.reasonableness.value))
              for v in session.scalars(select(Verification).where(Verification.case_id == case.id)
                                       .order_by(Verification.verified_at, Verification.id))]
    help_given: list[HelpFact] = []
    next_steps: list[str] = []
    for ref in session.scalars(select(Referral).where(Referral.case_id == case.id).order_by(Referral.id)):
        what = f"转介{voc.label('contact_roles', ref.role)}" + (f"：{ref.purpose}" if ref.purpose else "")
        if ref.result_at is not None:
            effect = f"{_local(ref.result_at)} 反馈：{ref.result_note or '已办结'}"
        elif ref.status in AWAITING_FEEDBACK:
            effect = ""
            next_steps.append(f"等待{voc.label('contact_roles', ref.role)}反馈结果"
                              f"（{_local(ref.feedback_due_at)}前）")
        else:
            effect = voc.label("referral_statuses", ref.status.value)
        help_given.append(HelpFact(ref.sent_at.astimezone(SHANGHAI).date(), what, effect))
    for med in session.scalars(select(Mediation).where(Mediation.case_id == case.id)):
        effect = voc.label("mediation_outcomes", med.outcome.value) + (f"，{med.note}" if med.note else "")
        help_given.append(HelpFact(med.held_on, f"组织调解（调解人：{med.mediator_name}）", effect))
    for visit in session.scalars(select(Visit).where(Visit.case_id == case.id)):
        what = f"{voc.label('visit_modes', visit.mode)}（{visit.visited_by}）" + (
            f"：{visit.help_given}" if visit.help_given else "")
        help_given.append(HelpFact(visit.visited_at.astimezone(SHANGHAI).date(), what, visit.condition))
    for measure in session.scalars(select(ProtectiveMeasure).where(ProtectiveMeasure.case_id == case.id)):
        what = voc.label("measure_kinds", measure.kind.value) + (f"（{measure.issuer}）" if measure.issuer else "")
        effect = voc.label("measure_statuses", measure.status.value) + (
            f"，有效期至{measure.until_date.isoformat()}" if measure.until_date else "")
        help_given.append(HelpFact(measure.on_date, what, effect))
    help_given.sort(key=lambda h: h.on)
    outcome = ""
    follow_up = session.scalar(select(FollowUp).where(FollowUp.case_id == case.id))
    if follow_up is not None and follow_up.visited_at is not None:
        satisfaction = voc.label("satisfaction", follow_up.satisfaction.value) if follow_up.satisfaction else ""
        outcome = "；".join(p for p in (_local(follow_up.visited_at), follow_up.outcome, satisfaction) if p)
    elif follow_up is not None:
        next_steps.append(f"结案回访（{_local(follow_up.due_at)}前）")
    plan = active_plan(session, case)
    if plan is not None and plan.next_due_at is not None:
        next_steps.append(f"列入{voc.label('ledgers', plan.ledger.value)}台账，下次回访 {_local(plan.next_due_at)}")
    if (case.responded_at is None and case.response_due_at is not None
            and case.status.value not in ("closed", "not_accepted")):
        next_steps.append(f"答复当事人（{_local(case.response_due_at)}前）")
    problem = f"{voc.label('categories', case.category)}：{case.summary}"
    return ReportFacts(number=case.number or str(case.id), source=source, received_at=case.received_at,
                       assigned_by=case.assigned_by or "", problem=problem, verifications=checks,
                       help=help_given, outcome=outcome, next_steps=next_steps,
                       answered_at=case.responded_at)


def report_written(session: Session, *, case_id: int) -> bool:
    return session.scalar(select(AuditEvent.id).where(AuditEvent.case_id == case_id,
                                                      AuditEvent.kind == REPORT_WRITTEN).limit(1)) is not None


# --- the .docx --------------------------------------------------------------------------------

def _east_asian(style, *, font: str, size: float, bold: bool = False) -> None:
    style.font.name = LATIN_FONT
    style.font.size = Pt(size)
    style.font.bold = bold
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), font)


def _document(facts: ReportFacts, *, unit: str) -> Document:
    doc = Document()
    for part in doc.sections:  # python-docx's default template is US Letter
        part.page_width, part.page_height = Cm(21), Cm(29.7)
    _east_asian(doc.styles["Normal"], font=BODY_FONT, size=14)
    _east_asian(doc.styles["Title"], font=HEADING_FONT, size=20)
    _east_asian(doc.styles["Heading 1"], font=HEADING_FONT, size=16, bold=True)
    for name in ("Title", "Heading 1"):
        doc.styles[name].font.color.rgb = None
    heading = doc.add_paragraph(title(facts), style="Title")
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph(f"报告单位：{unit}")
    for section in sections(facts):
        doc.add_paragraph(section.heading, style="Heading 1")
        for item in section.items:
            lines = item.text.split("\n")
            para = doc.add_paragraph()
            para.add_run(f"{item.label}：").bold = True
            para.add_run(lines[0])
            for line in lines[1:]:
                doc.add_paragraph(line).paragraph_format.left_indent = Pt(28)
    doc.add_paragraph("")
    doc.add_paragraph(f"{unit}").alignment = WD_ALIGN_PARAGRAPH.RIGHT
    doc.add_paragraph(gap(REPORT_DATE)).alignment = WD_ALIGN_PARAGRAPH.RIGHT
    return doc


@dataclass(frozen=True)
class WrittenReport:
    number: str
    path: Path
    gaps: int  # places marked for the cadre to write


def write_situation_report(sessions: sessionmaker[Session], *, requester: Requester, case_key: str,
                           out: Path, now: datetime) -> WrittenReport:
    """The 情况报告 of a case the requester may see, into `out` (.docx), audited."""
    with staged_output(out, suffix=".docx") as partial:
        with unit_of_work(sessions) as session:
            case = repo.case_by_key(session, case_key.strip())
            if case is None:
                raise InputError(field="case", reason=f"no case {case_key!r}")
            if requester.scope is not None and not is_within(case.jurisdiction_code, under=requester.scope):
                raise InputError(field="case", reason=f"{case.number} is outside your jurisdiction ({requester.scope})")
            if requester.role == Role.OPERATOR:
                raise InputError(field="case", reason="operators watch counts; the report carries the case's details")
            facts = case_facts(session, case)
            place = repo.get_jurisdiction(session, case.jurisdiction_code)
            unit = f"{place.name}妇联" if place is not None else "妇联"
            _document(facts, unit=unit).save(str(partial))
            # the report's date is the day it is signed, not the day it was drafted: the cadre's
            gaps = 1 + sum(item.gaps for section in sections(facts) for item in section.items)
            repo.add_audit(session, case_id=case.id, at=now, actor=requester.actor, kind=REPORT_WRITTEN,
                           note=title(facts), detail={"format": "docx", "gaps": gaps})
            number = facts.number
    log.info("situation report of %s written by %s (%s gaps)", number, requester.actor, gaps)
    return WrittenReport(number=number, path=out, gaps=gaps)
