"""`weiquan status`: who leads the scheduler and which service processes stand by (each
one's heartbeat), what waits in the outbox (and how long the
oldest has waited), and the flow runs owed to Prefect — one read, codes only (the CLI puts the words on)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.db.orm import FlowTrigger, Notice
from models.domain.statuses import NoticeStatus, TriggerStatus
from models.service.backlog import DEFAULT_THRESHOLD, backlog
from models.service.leases import SCHEDULER_LEASE, lease_view, process_views

# What an operator watches: waiting, in flight, given up (sent and cancelled are history).
WATCHED_NOTICES = (NoticeStatus.QUEUED, NoticeStatus.SENDING, NoticeStatus.FAILED)


def service_status(session: Session, *, now: datetime,
                   backlog_after: timedelta = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """`backlog_after`: the operator's threshold (WEIQUAN_BACKLOG_ALERT_MINUTES)."""
    lease = lease_view(session, name=SCHEDULER_LEASE, now=now)
    counts = dict(session.execute(
        select(Notice.status, func.count()).where(Notice.status.in_(WATCHED_NOTICES))
        .group_by(Notice.status)).all())
    owed = session.scalar(select(func.count()).select_from(FlowTrigger)
                          .where(FlowTrigger.status == TriggerStatus.PENDING))
    leader = None if lease is None else {
        "holder": lease.holder, "live": lease.live,
        "acquired_at": lease.acquired_at.isoformat(),
        "heartbeat_at": lease.heartbeat_at.isoformat(),
        "expires_at": lease.expires_at.isoformat(),
        "age_seconds": round(lease.age.total_seconds(), 1),
        "heartbeat_age_seconds": round((now - lease.heartbeat_at).total_seconds(), 1),
        "expires_in_seconds": round(lease.expires_in.total_seconds(), 1),
    }
    leading = lease.holder if lease is not None and lease.live else None
    processes = [{"holder": view.holder, "live": view.live, "leading": view.holder == leading,
                  "started_at": view.acquired_at.isoformat(),
                  "heartbeat_age_seconds": round((now - view.heartbeat_at).total_seconds(), 1)}
                 for view in process_views(session, now=now)]
    return {"as_of": now.isoformat(), "leader": leader, "processes": processes,
            "notices": {str(status): counts.get(status, 0) for status in WATCHED_NOTICES},
            "backlog": backlog(session, as_of=now, threshold=backlog_after).facts(),
            "owed_flow_runs": owed}
