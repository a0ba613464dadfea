"""Load on loopback: 50 concurrent users on the board and the intake API for 2 minutes.

    .venv/bin/python bench/load_bench.py [--quick] [--users 50] [--seconds 120]
                                         [--database-url postgresql+psycopg://…/db] [--workers 2]
                                         [--think 1-3]

Starts the board as it is deployed (`uvicorn --factory web.asgi:app_from_environment
--workers 2`, one worker per core of a 2-core machine) on a free port over a
fresh database (a temporary SQLite file, or a scratch database created on the given
PostgreSQL server and dropped afterwards), loads the demo registry and users, adds a source with `weiquan source add`, then runs
the users: each signed-in supervisor or cadre views /board, /today and a case page; one in
five users is a system filing cases with POST /api/intake (the DV contract document, a new
external_ref each time, received at the moment it is filed, as a platform forwards what it
has just taken in). Before the users start, a standing backlog of `--backlog` cases (default
200) is filed as the contract has it, received 2026-09-30, so the board shows 200 overdue
cases (400 rows: the answer and the situation report of each) throughout; cases filed during
the run are not yet due and do not lengthen it (filed as received in September, 5 a second
would add 10 rows a second, and the board's cost grows with its rows). Every user, people and systems alike, pauses between requests as a
person does: a think time drawn uniformly from 1 to 3 seconds (locust's usual
`between(1, 3)`; `--think 0-0` sends back to back, which measures saturation, not users), so
50 users offer about 20 requests a second; the rate achieved is printed. The API's per-source rate limit (WEIQUAN_API_RATE_PER_MINUTE,
default 60) is raised to 100000 for the run: the bench measures the server, not the limit.
Users sign in once per role (the sign-in throttle counts failures, not these).

Prints p50/p95 per kind ("board": every page a person opens; "api": the intakes) and per
page, the error rate, intakes/s, requests/s, the load average and the CPU the load client
and the server used (the client shares the machine's cores with the server); the last line is
`RESULT board_p95_ms=… api_p95_ms=… error_rate=… intakes_per_s=… requests_per_s=…`.
On SQLite several workers are allowed outside production (WEIQUAN_ENV=production refuses
SQLite with WEIQUAN_PROCESSES > 1; this bench does not set either).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timedelta, timezone
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from due_bench import scratch_database  # bench/ is this script's directory on sys.path

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO.parent / "shared" / "contract" / "intake" / "dv_strangulation.json"
BEIJING = timezone(timedelta(hours=8))
# A client drops an idle connection before the server does (uvicorn: after 5 s): with both at
# 5 s, a request sent on a connection the server is closing that instant fails (ReadError).
LIMITS = httpx.Limits(keepalive_expiry=2.0)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def weiquan(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True)
    return done.stdout


async def sign_in(base: str, username: str, password: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=30.0, limits=LIMITS)
    page = await client.get("/signin")
    token = CSRF.search(page.text)
    if token is None:
        raise SystemExit("no csrf_token on /signin")
    answer = await client.post("/signin", data={"username": username, "password": password,
                                                "next": "/", "csrf_token": token.group(1)})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in as {username}: HTTP {answer.status_code}")
    return client


async def run(base: str, token: str, *, users: int, seconds: float, backlog: int,
              think: tuple[float, float]) -> dict[str, list[float]]:
    document = json.loads(CONTRACT.read_text(encoding="utf-8"))
    supervisor = await sign_in(base, "supervisor", "demo-supervisor")
    cadre = await sign_in(base, "cadre", "demo-cadre")
    api = httpx.AsyncClient(base_url=base, timeout=30.0, limits=LIMITS,
                            headers={"Authorization": f"Bearer {token}"})
    # The standing backlog (untimed), the last of it the case the users look at.
    case_number = ""
    for index in range(max(backlog, 1)):
        filed = await api.post("/api/intake", json={**document, "external_ref": f"backlog-{index}"})
        filed.raise_for_status()
        case_number = filed.json()["number"]
    timings: dict[str, list[float]] = {"board": [], "api": []}
    by_page: dict[str, list[float]] = {}
    pauses = random.Random(13)
    unanswered = 0  # requests that got no HTTP answer at all (refused, reset, timed out)
    errors: list[str] = []
    counter = iter(range(10**9))
    stop_at = time.monotonic() + seconds

    async def timed(kind: str, page: str, call) -> None:
        nonlocal unanswered
        started = time.perf_counter()
        try:
            answer = await call
        except httpx.HTTPError as exc:
            errors.append(f"{kind}: {type(exc).__name__}")
            unanswered += 1
        else:
            took = (time.perf_counter() - started) * 1000
            timings[kind].append(took)
            by_page.setdefault(page, []).append(took)
            if answer.status_code >= 400:
                errors.append(f"{kind}: HTTP {answer.status_code} {answer.text[:200]}")
        await asyncio.sleep(min(pauses.uniform(*think), max(stop_at - time.monotonic(), 0)))

    async def user(index: int) -> None:
        if index % 5 == 0:
            while time.monotonic() < stop_at:
                ref = f"load-{next(counter)}"
                received = (datetime.now(BEIJING) - timedelta(seconds=1)).isoformat(timespec="seconds")
                await timed("api", "POST /api/intake", api.post("/api/intake", json={
                    **document, "external_ref": ref, "received_at": received}))
            return
        client = supervisor if index % 2 else cadre
        pages = ["/board", f"/cases/{case_number}"] if client is supervisor else \
            ["/today", f"/cases/{case_number}"]
        # Users do not start in step: each first waits a pause, as arrivals spread out.
        await asyncio.sleep(pauses.uniform(*think))
        step = 0
        while time.monotonic() < stop_at:
            page = pages[step % len(pages)]
            await timed("board", "GET /cases/…" if page.startswith("/cases/") else f"GET {page}",
                        client.get(page))
            step += 1

    started = time.monotonic()
    await asyncio.gather(*(user(i) for i in range(users)))
    elapsed = time.monotonic() - started
    for client in (supervisor, cadre, api):
        await client.aclose()
    timings["_elapsed"] = [elapsed]
    timings["_errors"] = [float(len(errors))]
    timings["_unanswered"] = [float(unanswered)]
    for page, values in sorted(by_page.items()):
        timings[f"_page {page}"] = values
    for line in sorted(set(errors))[:10]:
        print("error:", line)
    return timings


def p(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 s instead of 2 minutes")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--database-url", help="a PostgreSQL URL: a scratch database is created on its server "
                        "(default: a temporary SQLite file)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--backlog", type=int, default=200,
                        help="overdue cases filed before the run (the board's length)")
    parser.add_argument("--think", default="1-3", help="each user's pause between requests, "
                        "seconds, drawn uniformly from LOW-HIGH (default 1-3)")
    args = parser.parse_args()
    low, _, high = args.think.partition("-")
    try:
        think = (float(low), float(high or low))
    except ValueError:
        parser.error(f"--think: expected LOW-HIGH seconds such as 1-3, got {args.think!r}")
    if not 0 <= think[0] <= think[1]:
        parser.error(f"--think: expected 0 <= LOW <= HIGH, got {args.think!r}")
    seconds = args.seconds or (20.0 if args.quick else 120.0)
    with tempfile.TemporaryDirectory() as scratch, \
            scratch_database(args.database_url, "load", Path(scratch)) as database_url:
        env = {**os.environ, "WEIQUAN_DATA_DIR": scratch, "WEIQUAN_API_RATE_PER_MINUTE": "100000",
               "WEIQUAN_DIGESTS_ENABLED": "false"}
        env["WEIQUAN_DATABASE_URL"] = database_url
        weiquan(env, "db", "upgrade")
        weiquan(env, "registry", "demo")
        added = weiquan(env, "source", "add", "load-bench", "--jurisdiction", "99")
        token = next(line.strip() for line in added.splitlines() if line.strip().startswith("wqs_"))
        port = free_port()
        # The server's CPU: its workers' and its own, added to ours when it is waited for.
        children_before = os.times()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "web.asgi:app_from_environment",
             "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
             "--log-level", "warning", "--no-access-log"], cwd=REPO, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            # One client for the polling: httpx.get makes a client (and an SSL context) per
            # call, CPU taken from the server starting up beside it.
            with httpx.Client(timeout=2) as probe:
                while True:
                    try:
                        if probe.get(f"{base}/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the board did not start")
                    time.sleep(0.2)
            load_before = os.getloadavg()[0]
            client_before = time.process_time()
            timings = asyncio.run(run(base, token, users=args.users, seconds=seconds,
                                      backlog=args.backlog, think=think))
            load_after = os.getloadavg()[0]
            client_cpu = time.process_time() - client_before
        finally:
            server.terminate()
            server.wait(timeout=30)
        children_after = os.times()
        server_cpu = (children_after.children_user + children_after.children_system
                      - children_before.children_user - children_before.children_system)
    elapsed = timings.pop("_elapsed")[0]
    failed = int(timings.pop("_errors")[0])
    unanswered = int(timings.pop("_unanswered")[0])
    pages = {kind[len("_page "):]: timings.pop(kind) for kind in list(timings)
             if kind.startswith("_page ")}
    total = sum(len(v) for v in timings.values()) + unanswered
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"{args.users} users, think time {think[0]:g}–{think[1]:g} s between requests, "
          f"backlog {args.backlog} overdue cases, "
          f"{elapsed:.0f} s, {backend}, {args.workers} uvicorn worker(s)")
    for kind, values in [*timings.items(), *pages.items()]:
        print(f"{kind:18} requests {len(values):6}  p50 {p(values, 50):7.1f} ms  "
              f"p95 {p(values, 95):7.1f} ms")
    error_rate = failed / max(total, 1)
    intakes = len(timings["api"]) / elapsed
    rate = total / elapsed
    print(f"errors {failed} of {total} ({error_rate:.2%}); intakes {intakes:.1f}/s; "
          f"requests {rate:.1f}/s; load average {load_before:.2f} before, {load_after:.2f} after "
          f"(this machine's 2 cores run other jobs too)")
    print(f"CPU: the load client {client_cpu:.1f} s ({client_cpu / elapsed:.0%} of a core, "
          f"the backlog's filing included), the server {server_cpu:.1f} s "
          f"({server_cpu / elapsed:.0%} of a core, its start and the backlog included)")
    print(f"RESULT board_p95_ms={p(timings['board'], 95):.0f} api_p95_ms={p(timings['api'], 95):.0f} "
          f"error_rate={error_rate:.4f} intakes_per_s={intakes:.1f} requests_per_s={rate:.1f}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
