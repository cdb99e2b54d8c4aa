"""Delivery: claim due outbox rows, post them, record channel and ts — at the pace Slack allows per channel.

A row is claimed (status `sending`, a lease) and committed before the post, and marked `sent` after it
(marks are written in small batches). Replicas on PostgreSQL claim with FOR UPDATE SKIP LOCKED, so no row
is claimed twice. The one window that remains: a process killed after Slack accepted a post and before its
mark commits. Its lease then runs out and the row is claimed again; before posting again, delivery looks
for the message it may already have posted (the row id travels in the message metadata) and marks the row
sent instead of posting twice. A duplicate remains possible only when that history cannot be read, or when
more than HISTORY_DEPTH messages were posted to the same conversation in between.

Slack allows about one message per second per channel (short bursts more), so one busy channel must not
hold up the others. Delivery claims a few rows per target at a time, and a small pool of threads posts
them: one post in flight per target (so a channel's messages arrive in order), any number of targets at
once. A 429 never sleeps inline: the row goes back to the front of its target's queue, that target waits
Retry-After, and the others carry on. The first 429s also tell the size of a channel's bucket (its burst, and
a refill of one per Retry-After, at most a second): from then on every target is paced by that model, counted
from Slack's answers so that it lags the real bucket and never leads it, and is rarely rate limited again.
A 429 is not a failed attempt; a 5xx is retried once in the run, then the row goes back to the outbox with
backoff. Claims and marks run on one database thread; the posting threads never touch the database.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from sqlalchemy import and_, bindparam, case, func, literal, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from scheduler.render import render
from store.db import columns, pk, transaction
from store.outbox import Outbox, Status
from store.programs import Program

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 6
METADATA_EVENT = "cmo_outbox"
HISTORY_DEPTH = 200
# Errors that no retry will cure: the row is dead-lettered and an operator alerted at once.
PERMANENT = {
    "channel_not_found", "is_archived", "not_in_channel", "user_not_found", "account_inactive",
    "invalid_blocks", "msg_too_long", "no_text", "cannot_dm_bot", "restricted_action", "invalid_auth",
    "not_authed", "token_revoked", "missing_scope", "invalid_arguments", "user_disabled",
}
POOL = 8  # posts in flight at once (each to a different target)
AHEAD = 3  # rows claimed per target at a time: a paced channel never holds more than a few seconds of work
PACE_CAP = 1.0  # seconds between posts to a target once it has been rate limited (Slack: ~1/s per channel)
MAX_HELD = 1000  # rows this process holds claimed at most
SERVER_RETRIES = 1  # in-run retries of a 5xx or dropped connection before the row goes back to the outbox
SERVER_BACKOFF = 0.5  # seconds before that retry
FLUSH_ROWS, FLUSH_SECONDS = 100, 0.2  # sent marks are committed in batches this big or this old
CLAIM_GAP = 0.02  # seconds between claims while rows are held
MARGIN = 0.01  # seconds added to a modelled wait for a token
MAX_SEEN = 500  # targets a claim prefers new ones over (beyond that, plain round robin)


SENT = frozenset({"sent", "recovered"})  # outcomes whose message Slack holds


@dataclass(frozen=True)
class Outcome:
    row_id: int
    key: str
    target: str
    result: str  # sent | retry | dead | recovered
    detail: str = ""
    late: bool = False

    def line(self) -> str:
        late = " (late)" if self.late else ""
        detail = f" — {self.detail}" if self.detail else ""
        return f"{self.result:<9} {self.key} → {self.target}{late}{detail}"


def claimable(now: datetime):
    ready = and_(
        col(Outbox.status) == Status.pending,
        col(Outbox.not_before) <= now,
        or_(col(Outbox.next_attempt_at).is_(None), col(Outbox.next_attempt_at) <= now),
    )
    abandoned = and_(col(Outbox.status) == Status.sending, col(Outbox.lease_until) < now)
    return or_(ready, abandoned)


ORDER = (col(Outbox.urgent).desc(), col(Outbox.not_before), col(Outbox.id))


def claim(engine: Engine, now: datetime, limit: int = 50, *, per_target: int | None = None,
          exclude: frozenset[str] = frozenset(), seen: frozenset[str] = frozenset(),
          only: Collection[int] | None = None) -> list[tuple[Outbox, bool]]:
    """Take up to `limit` due rows for this process; the flag says the row was abandoned mid-send.

    `per_target` takes at most that many rows per target (the first ones in order), round robin: every
    target's first row, then every target's second …, targets not in `seen` first at each round (a channel
    that has not had a message yet gets one before a channel gets its next). `exclude` takes none for those
    targets: a process pacing a busy channel leaves the rest of that channel for later. `only` takes none but
    those rows.
    """
    with transaction(engine) as session:
        wanted = claimable(now)
        if only is not None:
            wanted = and_(wanted, col(Outbox.id).in_(sorted(only)))
        if exclude:
            wanted = and_(wanted, col(Outbox.target).not_in(sorted(exclude)))
        if per_target is not None:  # first the ids (no lock), then lock those still claimable
            ranked = columns(Outbox.id, Outbox.target, Outbox.urgent, Outbox.not_before, func.row_number().over(
                partition_by=Outbox.target, order_by=ORDER).label("rank")).where(wanted).subquery()
            fresh = case((ranked.c.target.in_(sorted(seen)), 1), else_=0) if 0 < len(seen) <= MAX_SEEN else literal(0)
            ids = session.exec(select(ranked.c.id).where(ranked.c.rank <= per_target).order_by(
                ranked.c.urgent.desc(), ranked.c.rank, fresh, ranked.c.not_before, ranked.c.id).limit(limit)).all()
            wanted = and_(wanted, col(Outbox.id).in_(ids))
        query = select(Outbox).where(wanted).order_by(*ORDER).limit(limit).with_for_update(skip_locked=True)
        rows = list(session.exec(query))
        if rows:
            session.exec(update(Outbox).where(col(Outbox.id).in_([r.id for r in rows]))
                         .values(status=Status.sending, lease_until=now + LEASE, attempts=Outbox.attempts + 1)
                         .execution_options(synchronize_session=False))
        session.expunge_all()
    claimed = [(row, row.status == Status.sending) for row in rows]
    for row in rows:  # the copies this process works with, as the database now has them
        row.status, row.lease_until, row.attempts = Status.sending, now + LEASE, row.attempts + 1
    return claimed


def _finish(engine: Engine, row_id: int, **changes) -> None:
    _apply(engine, [(row_id, changes)])


def _apply(engine: Engine, changes: list[tuple[int, dict[str, Any]]]) -> None:
    """Settle claimed rows (still `sending`) in one transaction: one UPDATE per shape of change."""
    table = Outbox.__table__  # type: ignore[attr-defined]
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row_id, change in changes:
        groups[tuple(sorted(change))].append({"b_id": row_id, **{f"b_{k}": v for k, v in change.items()}})
    with transaction(engine) as session:
        connection = session.connection()
        for names, params in groups.items():
            statement = (update(table)
                         .where(table.c.id == bindparam("b_id"), table.c.status == Status.sending)
                         .values({name: bindparam(f"b_{name}") for name in names} | {"lease_until": None}))
            connection.execute(statement, params)


def _already_posted(client: WebClient, row: Outbox) -> dict | None:
    """The message a killed predecessor posted for this row, if Slack still shows it among the last 200."""
    try:
        channel = row.target
        if channel[:1] in "UW":  # a DM: its history lives in the D… conversation
            channel = client.conversations_open(users=channel)["channel"]["id"]
        history = client.conversations_history(channel=channel, include_all_metadata=True, limit=HISTORY_DEPTH)
    except SlackClientError:
        return None
    messages: list[dict[str, Any]] = history.get("messages", [])
    for message in messages:
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == METADATA_EVENT and metadata.get("event_payload", {}).get("id") == row.id:
            return {"channel": channel, "ts": message["ts"]}
    return None


def posting_client(client: WebClient) -> WebClient:
    """The same client without the retry handlers that sleep inline on 429s and 5xx (delivery paces itself).
    Anything else that posts like a WebClient (a test double) is used as it is."""
    if not isinstance(client, WebClient):
        return client
    return WebClient(token=client.token, base_url=client.base_url, timeout=client.timeout, ssl=client.ssl,
                     proxy=client.proxy, headers=dict(client.headers),
                     retry_handlers=[h for h in client.retry_handlers if isinstance(h, ConnectionErrorRetryHandler)])


@dataclass
class _Job:
    row: Outbox
    abandoned: bool
    late: bool
    claimed_at: float  # monotonic
    server_tries: int = 0


@dataclass(frozen=True)
class _Answer:
    kind: str  # sent | recovered | limited | failed
    channel: str = ""
    ts: str = ""
    error: str = ""
    retry_after: float = 0.0
    transient: bool = False  # a 5xx or a dropped connection: worth one more try in this run


Renderer = Callable[[Outbox, bool], tuple[str, list[dict]]]


def _attempt(client: WebClient, poster: WebClient, job: _Job, renderer: Renderer) -> _Answer:
    """One try at one row, on a worker thread (no database here)."""
    row = job.row
    if job.abandoned:
        job.abandoned = False
        if found := _already_posted(client, row):
            return _Answer("recovered", found["channel"], found["ts"])
    text, blocks = renderer(row, job.late)
    try:
        response = poster.chat_postMessage(
            channel=row.target, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"id": row.id, "key": row.key}},
        )
    except SlackApiError as exc:
        status = exc.response.status_code
        if status == 429:
            header = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after") or "1"
            return _Answer("limited", error="ratelimited", retry_after=float(header) if header.isdecimal() else 1.0)
        return _Answer("failed", error=exc.response.get("error") or f"HTTP {status}", transient=status >= 500)
    except (SlackClientError, OSError) as exc:
        return _Answer("failed", error=f"{type(exc).__name__}: {exc}"[:200], transient=True)
    return _Answer("sent", response["channel"], response["ts"])


@dataclass
class _Target:
    queue: deque[_Job] = field(default_factory=deque)
    ready_at: float = 0.0  # monotonic instant before which nothing is posted to it
    spacing: float = 0.0  # learned from 429s
    busy: bool = False  # a post is in flight
    scheduled: bool = False  # in the run's ready heap
    posted: int = 0  # posts accepted in this run
    first: float = 0.0  # when the first of them was answered
    last: float = 0.0  # … and the last
    tokens: float | None = None  # the modelled bucket at `stamp` (None: not modelled yet)
    stamp: float = 0.0
    spending: float = 0.0  # the modelled tokens when the post in flight went out


class _Run:
    """One `deliver` call: claims, a per-target queue and pace, a pool of posting threads.

    The coordinating thread only schedules. Claims and marks run on one database thread, in order, so that
    neither a slow claim nor a commit holds up the posts; the rare retry and dead-letter updates are
    written by the coordinator itself, after the marks before them.
    """

    def __init__(self, engine: Engine, client: WebClient, now: datetime, alert: Callable[[str], None] | None,
                 limit: int, elapsed: Callable[[], float], only: Collection[int] | None = None,
                 renderer: Renderer = render):
        self.engine, self.client, self.now, self.alert, self.limit = engine, client, now, alert, limit
        self.only, self.renderer = only, renderer
        self.elapsed, self.started = elapsed, elapsed()
        self.poster = posting_client(client)
        self.targets: dict[str, _Target] = defaultdict(_Target)
        self.flying: dict[Future, _Job] = {}
        self.ready: list[tuple[float, int, str]] = []  # heap of (ready_at, order, target): longest waiting first
        self.burst: float | None = None  # the per-channel bucket learned from the first 429s …
        self.rate = 1 / PACE_CAP  # … and its refill per second
        self.order = itertools.count()
        self.held = 0
        self.zones: dict[int, Any] = {}
        self.marks: list[tuple[int, dict[str, Any]]] = []
        self.marks_since = 0.0
        self.writes: list[Future] = []
        self.claiming: Future | None = None
        self.last_claim = -1.0
        self.drained: frozenset[str] | None = None  # the last claim found nothing more, these targets aside
        self.outcomes: list[Outcome] = []

    def stamp(self) -> datetime:
        """Now, as the run goes on: the instant it was started for, advanced by the time it has taken. Leases,
        `sent_at` and retry times come from here, so a row claimed late in a long run is not born abandoned."""
        return self.now + timedelta(seconds=self.elapsed() - self.started)

    def run(self) -> list[Outcome]:
        with ThreadPoolExecutor(POOL, thread_name_prefix="delivery") as pool, \
                ThreadPoolExecutor(1, thread_name_prefix="delivery-db") as self.database:
            try:
                while True:
                    self._claim()
                    if not self.held and self.claiming is None:
                        break
                    self._dispatch(pool)
                    self._await()
                    self._flush()
            finally:
                self._flush(force=True)
                for write in self.writes:
                    write.result()
        return self.outcomes

    # --- claiming ------------------------------------------------------------------------------------

    def _claim(self) -> None:
        if self.claiming is not None:
            return
        clock = time.monotonic()
        ready = sum(1 for at, _, _ in self.ready if at <= clock)
        if self.held and (ready >= POOL or self.held >= MAX_HELD or clock - self.last_claim < CLAIM_GAP):
            return
        if self.held and self.drained is not None and clock - self.last_claim < 10 * CLAIM_GAP:
            return
        if not self.held and self.drained == frozenset():
            return  # everything claimable was sent
        self.last_claim = clock
        busy = frozenset(name for name, t in self.targets.items() if t.queue)
        self.claiming = self.database.submit(self._claim_rows, min(self.limit, MAX_HELD - self.held), busy,
                                             frozenset(self.targets))
        self.claiming.busy = busy  # type: ignore[attr-defined]

    def _claim_rows(self, limit: int, busy: frozenset[str], seen: frozenset[str]) -> list[tuple[Outbox, bool]]:
        """On the database thread: claim, and learn the time zones of programs not seen yet."""
        claimed = claim(self.engine, self.stamp(), limit, per_target=AHEAD, exclude=busy, seen=seen, only=self.only)
        missing = {row.program_id for row, _ in claimed} - set(self.zones)
        if missing:
            with transaction(self.engine) as session:
                self.zones |= {pk(p): p.tz for p in session.exec(
                    select(Program).where(col(Program.id).in_(missing)))}
        return claimed

    def _claimed(self, future: Future) -> None:
        self.claiming = None
        claimed = future.result()
        self.drained = None if claimed else future.busy  # type: ignore[attr-defined]
        clock = time.monotonic()
        for row, abandoned in claimed:
            late = self.stamp().astimezone(self.zones[row.program_id]).date() > row.due_on
            self.targets[row.target].queue.append(_Job(row, abandoned, late, clock))
            self.held += 1
            self._schedule(row.target)

    def _schedule(self, name: str) -> None:
        target = self.targets[name]
        if target.queue and not target.busy and not target.scheduled:
            target.scheduled = True
            heapq.heappush(self.ready, (target.ready_at, next(self.order), name))

    # --- posting -------------------------------------------------------------------------------------

    def _dispatch(self, pool: ThreadPoolExecutor) -> None:
        clock = time.monotonic()
        while self.ready and self.ready[0][0] <= clock and len(self.flying) < POOL:
            name = heapq.heappop(self.ready)[2]
            target = self.targets[name]
            target.scheduled = False
            if self.burst is not None:
                target.spending = self._tokens(target, clock)
                if target.spending < 1:  # the channel's bucket is empty: come back when a token is there
                    target.ready_at = clock + (1 - target.spending) / self.rate + MARGIN
                    self._schedule(name)
                    continue
            job = target.queue.popleft()
            target.busy = True
            self.flying[pool.submit(_attempt, self.client, self.poster, job, self.renderer)] = job

    def _tokens(self, target: _Target, clock: float) -> float:
        """What the channel's bucket holds now, by the model (never more than it really holds: refill is
        counted from answers, consumption from sends, so the model lags Slack's bucket, never leads it)."""
        assert self.burst is not None
        if target.tokens is None:
            refilled = (clock - target.first) * self.rate if target.posted else 0.0
            target.tokens, target.stamp = max(0.0, self.burst - target.posted + refilled), clock
        return min(self.burst, target.tokens + (clock - target.stamp) * self.rate)

    def _await(self) -> None:
        clock = time.monotonic()
        timeout = FLUSH_SECONDS
        if self.ready and len(self.flying) < POOL:  # else a finished post is what lets more go
            timeout = max(0.0, min(timeout, self.ready[0][0] - clock))
        watched = [*self.flying, *([self.claiming] if self.claiming else [])]
        done, _ = wait(watched, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            if future is self.claiming:
                self._claimed(future)
            else:
                self._settle(self.flying.pop(future), future.result())

    def _settle(self, job: _Job, answer: _Answer) -> None:
        try:
            self._settle_row(job, answer)
        finally:
            self._schedule(job.row.target)

    def _settle_row(self, job: _Job, answer: _Answer) -> None:
        row, clock = job.row, time.monotonic()
        target = self.targets[row.target]
        target.busy = False
        target.ready_at = clock + target.spacing
        if answer.kind == "sent":
            target.posted += 1
            target.first, target.last = target.first or clock, clock
            if self.burst is not None and target.tokens is not None:
                target.tokens, target.stamp = target.spending - 1, clock
                target.ready_at = clock
        if answer.kind == "limited":
            self._learn(target, clock, answer.retry_after)
            target.ready_at = clock + answer.retry_after
            if target.ready_at - job.claimed_at < LEASE.total_seconds() / 2:
                target.queue.appendleft(job)  # not an attempt: the same claim tries again when the channel allows
                return
            self._release(job, answer.retry_after)
            return
        if answer.kind == "failed" and answer.transient and job.server_tries < SERVER_RETRIES:
            job.server_tries += 1
            target.ready_at = max(target.ready_at, clock + SERVER_BACKOFF * job.server_tries)
            target.queue.appendleft(job)
            return
        self.held -= 1
        if answer.kind == "failed":
            self._failed(job, answer.error)
            return
        self.marks.append((pk(row), {"status": Status.sent, "channel": answer.channel, "ts": answer.ts,
                                    "sent_at": self.stamp(), "late": job.late, "last_error": None}))
        self.marks_since = self.marks_since or clock
        result, detail = ("recovered", "posted before the crash") if answer.kind == "recovered" else ("sent", "")
        self.outcomes.append(Outcome(pk(row), row.key, row.target, result, detail, job.late))

    # --- writing -------------------------------------------------------------------------------------

    def _write(self, row_id: int, **changes) -> None:
        """A retry or dead letter: written now, after the marks queued before it."""
        self._flush(force=True)
        for write in self.writes:
            write.result()
        self.writes = []
        _finish(self.engine, row_id, **changes)

    def _learn(self, target: _Target, clock: float, retry_after: float) -> None:
        """A 429: this channel is paced from now on, and its bucket tells the size of every channel's."""
        target.spacing = max(target.spacing, min(retry_after, PACE_CAP))
        self.rate = min(self.rate, 1 / max(target.spacing, 1e-3))
        # The bucket held a token for the last accepted post and none for this one:
        # posted - refill until the last ≤ burst < posted + 1 - refill until now.
        low = target.posted - (target.last - target.first) * self.rate
        high = target.posted + 1 - (clock - target.first) * self.rate
        burst = float(max(1, min(math.ceil(low - 1e-6), math.ceil(high) - 1))) if target.posted else 1.0
        self.burst = burst if self.burst is None else min(self.burst, burst)
        target.tokens, target.stamp = 0.0, clock

    def _release(self, job: _Job, seconds: float) -> None:
        """Rate limited for longer than the lease allows to wait: back to the outbox, the attempt not counted."""
        self.held -= 1
        row = job.row
        wait_for = timedelta(seconds=max(1, int(seconds)))
        self._write(pk(row), status=Status.pending, attempts=row.attempts - 1, last_error="ratelimited",
                    next_attempt_at=self.stamp() + wait_for)
        self.outcomes.append(Outcome(pk(row), row.key, row.target, "retry",
                                     f"ratelimited; next try in {int(wait_for.total_seconds())} s", job.late))

    def _failed(self, job: _Job, error: str) -> None:
        row = job.row
        if error in PERMANENT or row.attempts >= MAX_ATTEMPTS:
            self._write(pk(row), status=Status.dead, last_error=error)
            self.outcomes.append(Outcome(pk(row), row.key, row.target, "dead", error, job.late))
            if self.alert is not None:
                self.alert(f"A message could not be delivered and was dead-lettered: `{row.key}` to `{row.target}` "
                           f"({error}).")
            return
        wait_for = timedelta(seconds=max(1, 30 * 2 ** (row.attempts - 1)))
        self._write(pk(row), status=Status.pending, last_error=error, next_attempt_at=self.stamp() + wait_for)
        self.outcomes.append(Outcome(pk(row), row.key, row.target, "retry",
                                     f"{error}; next try in {int(wait_for.total_seconds())} s", job.late))

    def _flush(self, force: bool = False) -> None:
        if not self.marks:
            return
        if not force and len(self.marks) < FLUSH_ROWS and time.monotonic() - self.marks_since < FLUSH_SECONDS:
            return
        marks, self.marks, self.marks_since = self.marks, [], 0.0
        self.writes = [w for w in self.writes if not w.done() or w.result() is not None]
        self.writes.append(self.database.submit(_apply, self.engine, marks))


_ONE_PASS = threading.Lock()


def deliver(engine: Engine, client: WebClient, now: datetime, alert=None, limit: int = 50, *,
            elapsed: Callable[[], float] = time.monotonic) -> list[Outcome]:
    """Send everything claimable as of `now` (advanced by `elapsed` as the pass goes on), `limit` rows per
    claim; dead letters raise an operator alert.

    One pass at a time in a process: a pass asked for while another runs (the delivery job beside the
    sweep's) returns at once with nothing; the running pass claims what falls due while it runs.
    """
    if not _ONE_PASS.acquire(blocking=False):
        return []
    try:
        return _Run(engine, client, now, alert, limit, elapsed).run()
    finally:
        _ONE_PASS.release()


def deliver_now(engine: Engine, client: WebClient, now: datetime, rows: Collection[int], renderer: Renderer = render,
                alert=None) -> list[Outcome]:
    """Deliver these rows at once (what an action just queued), rendered by `renderer`, beside any running
    pass: the rows are claimed like any others, so whichever pass claims one posts it. A row Slack does not
    take now stays in the outbox for the scheduler."""
    if not rows:
        return []
    return _Run(engine, client, now, alert, len(rows), time.monotonic, rows, renderer).run()
