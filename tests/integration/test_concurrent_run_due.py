"""Two `weiquan run-due` processes at once against one database send each notice once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

from sqlalchemy import select

from models.db.orm import Notice
from models.db.session import unit_of_work
from notifications.sink import read_sink
from tests.conftest import REPO
from tests.integration.test_due import take_in_contract


def test_two_concurrent_run_due_processes_send_each_notice_once(mail_ctx, sink, settings):
    for index in range(12):
        take_in_contract(mail_ctx, "dv_strangulation", external_ref=f"concurrent-{index}")
    env = {**os.environ, "WEIQUAN_DATA_DIR": str(settings.data_dir),
           "WEIQUAN_DATABASE_URL": settings.effective_database_url,
           "WEIQUAN_SINK_PORT": str(sink.port), "WEIQUAN_SINK_HOST": "127.0.0.1"}
    env.pop("WEIQUAN_SMTP_HOST", None)
    command = [sys.executable, "-m", "app.cli", "run-due", "--as-of", "2026-10-21T09:00:00+08:00"]

    runs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=900) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    keys = Counter(m["X-Weiquan-Notice"] for m in read_sink(sink.directory))
    with unit_of_work(mail_ctx.sessions) as session:
        statuses = Counter(session.scalars(select(Notice.status)))
    # 12 life-threatening cases: 5 at-once reports + the call-110 mail each, the township and
    # the county told of the breach, and of the missed first return visit: 10 notices a case;
    # plus the cadres' digests of the day (09:00 is after 08:30). Each sent once.
    total = sum(statuses.values())
    assert statuses == {"sent": total} and total >= 12 * 10
    assert len(keys) == total and set(keys.values()) == {1}
    sent = [int(out.split(" sent")[0].rsplit(" ", 1)[-1]) for out, _ in outputs]
    assert sum(sent) == total, outputs  # the two processes split the work: nothing went twice
