"""The supervisors' monthly statistics through the real outbox and the SMTP sink: planned with
the day's digests on the first working day of the month by the official calendar, once per
supervisor per month, rendered when sent with last month's statistics xlsx attached.

September 2023, counted by hand: 东湖村 receives two cases (09-11, 09-20), 南山社区 one
(09-12); 东湖村's case of 08-30 and 西岭村's of 10-09 fall outside the month. October 2023
begins with the National Day holiday (10-01…06, Monday 10-02 included); Saturday 10-07 is a
make-up working day and so the month's first working day.
"""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest
from sqlalchemy import select

from models.db.orm import AuditEvent, Notice
from models.db.session import unit_of_work
from notifications.sink import read_sink
from tests.integration.ledger_data import store
from tests.integration.test_digests import add_user, html_of, text_of
from tests.integration.test_due import run

DONGHU, XILING, NANSHAN = "990102001001", "990102001002", "990102002001"
# The parties' data: never in the mail or its attachment.
PARTY = {"role": "victim", "name": "郑秀兰", "age": 41, "phone": "138-5555-0199",
         "address": "东湖村七组十八号"}
PERSONAL = ("郑秀兰", "138-5555-0199", "东湖村七组十八号", "郑某")


@pytest.fixture
def september(mail_ctx):
    mail_ctx.settings = mail_ctx.settings.model_copy(update={"digests_enabled": True})
    for where, received in ((DONGHU, "2023-08-30T10:00"), (DONGHU, "2023-09-11T10:00"),
                            (NANSHAN, "2023-09-12T10:00"), (DONGHU, "2023-09-20T15:00"),
                            (XILING, "2023-10-09T10:00")):
        store(mail_ctx, jurisdiction=where, received=received, parties=[PARTY],
              summary="郑某反映土地承包问题")
    add_user(mail_ctx, username="dhz", role="supervisor", jurisdiction="990102001",
             email="sup.dhz@example.org")
    add_user(mail_ctx, username="ns", role="supervisor", jurisdiction="990102002",
             email="sup.ns@example.org")
    add_user(mail_ctx, username="county", role="supervisor", jurisdiction="990102",
             email="sup.county@example.org")
    add_user(mail_ctx, username="cadre", role="cadre", jurisdiction=DONGHU,
             email="cadre@example.org")
    return mail_ctx


def all_monthly(sink) -> list:
    return [m for m in read_sink(sink.directory)
            if m["X-Weiquan-Notice"].startswith("digest:monthly:")]


def monthly(sink) -> dict[str, object]:
    return {m["To"]: m for m in all_monthly(sink)}


def attachment(message) -> tuple[str, bytes]:
    (part,) = list(message.iter_attachments())
    return part.get_filename(), part.get_content()


def received_by_row(data: bytes) -> dict[str, int]:
    sheet = openpyxl.load_workbook(io.BytesIO(data))["统计"]
    header, *rows = sheet.iter_rows(values_only=True)
    assert header[:3] == ("辖区", "层级", "收到投诉（件）")
    return {row[0]: row[2] for row in rows}


async def test_a_make_up_saturday_that_opens_the_month_brings_each_supervisor_her_subtree(
    september, sink
):
    await run(september, "2023-10-02T08:30:00")  # a National Day Monday: no working day
    await run(september, "2023-10-07T08:29:00")  # the make-up Saturday, before 08:30
    assert monthly(sink) == {}

    await run(september, "2023-10-07T08:30:00")

    mails = monthly(sink)
    assert set(mails) == {"sup.dhz@example.org", "sup.ns@example.org", "sup.county@example.org"}
    county, dhz, ns = (mails[f"sup.{k}@example.org"] for k in ("county", "dhz", "ns"))
    assert county["Subject"] == "【月度统计】示范县 2023年9月：收到投诉 3 件，按时答复率 —"
    assert county["X-Weiquan-Notice"] == "digest:monthly:user:3:2023-10-07"

    name, data = attachment(county)
    assert name == "统计表_990102_2023-09-01_2023-09-30.xlsx"
    assert received_by_row(data) == {
        "示范县（990102）": 3, "东湖镇（990102001）": 2, "东湖村（990102001001）": 2,
        "西岭村（990102001002）": 0, "南山街道（990102002）": 1, "南山社区（990102002001）": 1}
    assert received_by_row(attachment(dhz)[1]) == {
        "东湖镇（990102001）": 2, "东湖村（990102001001）": 2, "西岭村（990102001002）": 0}
    assert received_by_row(attachment(ns)[1]) == {
        "南山街道（990102002）": 1, "南山社区（990102002001）": 1}

    text = text_of(dhz)
    assert "东湖镇及所辖各级 2023年9月（2023-09-01 至 2023-09-30）" in text
    assert "    收到投诉（件）：2" in text
    assert "/stats?under=990102001&first=2023-09-01&last=2023-09-30" in text
    assert "/stats?under=990102001&amp;first=2023-09-01&amp;last=2023-09-30</a>" in html_of(dhz)

    for message in mails.values():
        _, data = attachment(message)
        with zipfile.ZipFile(io.BytesIO(data)) as book:  # every part of the workbook, unzipped
            inside = "".join(book.read(n).decode("utf-8") for n in book.namelist()
                             if n.endswith((".xml", ".rels")))
        whole = message.as_string() + text_of(message) + html_of(message) + inside
        for secret in PERSONAL:
            assert secret not in whole
    with unit_of_work(september.sessions) as session:
        audits = session.scalars(select(AuditEvent).where(
            AuditEvent.kind == "statistics_exported").order_by(AuditEvent.id)).all()
    assert sorted((a.actor, a.detail["under"], a.detail["mailed_as"]) for a in audits) == [
        ("system", "990102", "digest:monthly:user:3:2023-10-07"),
        ("system", "990102001", "digest:monthly:user:1:2023-10-07"),
        ("system", "990102002", "digest:monthly:user:2:2023-10-07")]


async def test_once_per_supervisor_per_month_whatever_the_sweeps(september, sink):
    for when in ("2023-10-07T08:30:00", "2023-10-07T08:30:00", "2023-10-07T11:00:00",
                 "2023-10-09T08:30:00", "2023-10-31T17:00:00"):
        await run(september, when)
    assert len(monthly(sink)) == 3
    with unit_of_work(september.sessions) as session:
        keys = session.scalars(select(Notice.key).where(Notice.kind == "monthly_statistics")).all()
    assert len(keys) == 3

    await run(september, "2023-11-01T08:30:00")  # November's own, for October
    assert len(all_monthly(sink)) == 6
    november = [m for m in all_monthly(sink) if m["X-Weiquan-Notice"].endswith(":2023-11-01")]
    assert {m["Subject"].split("：")[0] for m in november} == {
        "【月度统计】示范县 2023年10月", "【月度统计】东湖镇 2023年10月", "【月度统计】南山街道 2023年10月"}


async def test_missed_on_the_first_working_day_it_goes_out_later_that_month_never_the_next(
    september, sink
):
    await run(september, "2023-10-10T09:00:00")  # nothing ran on 10-07: made up on the 10th
    assert {m["X-Weiquan-Notice"].rsplit(":", 1)[1] for m in monthly(sink).values()} == {
        "2023-10-07"}

    sink.stop()  # 11-01: November's mails cannot go out
    await run(september, "2023-11-01T08:30:00")
    sink.start()
    await run(september, "2023-12-01T08:30:00")  # a month later November's are stale
    with unit_of_work(september.sessions) as session:
        november = session.scalars(select(Notice).where(
            Notice.kind == "monthly_statistics", Notice.key.endswith(":2023-11-01"))).all()
    assert {n.status for n in november} == {"cancelled"}
    assert all(n.last_error.startswith("stale") for n in november)
    assert len(all_monthly(sink)) == 6  # October's and December's


async def test_switched_off_with_the_digests(september, sink):
    september.settings = september.settings.model_copy(update={"digests_enabled": False})
    await run(september, "2023-10-07T08:30:00")
    assert monthly(sink) == {}
