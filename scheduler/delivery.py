"""Delivery: claim due outbox rows, post them, record channel and ts.

A row is claimed (status `sending`, a lease) and committed before the post, and marked `sent` in a second
transaction after it. Replicas on PostgreSQL claim with FOR UPDATE SKIP LOCKED, so no row is claimed
twice. The one window that remains: a process killed after Slack accepted the post and before the mark
commits. Its lease then runs out and the row is claimed again; before posting again, delivery looks for
the message it may already have posted (the row id travels in the message metadata) and marks the row
sent instead of posting twice. A duplicate remains possible only when that history cannot be read, or
when more than HISTORY_DEPTH messages were posted to the same conversation in between.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import and_, or_
from sqlalchemy.engine import Engine
from sqlmodel import select

from scheduler.render import render
from store.db import transaction
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
        Outbox.status == Status.pending,
        Outbox.not_before <= now,
        or_(Outbox.next_attempt_at.is_(None), Outbox.next_attempt_at <= now),  # type: ignore[union-attr]
    )
    abandoned = and_(Outbox.status == Status.sending, Outbox.lease_until < now)  # type: ignore[operator]
    return or_(ready, abandoned)


def claim(engine: Engine, now: datetime, limit: int = 50) -> list[tuple[Outbox, bool]]:
    """Take up to `limit` due rows for this process; the flag says the row was abandoned mid-send."""
    with transaction(engine) as session:
        query = (
            select(Outbox)
            .where(claimable(now))
            .order_by(Outbox.urgent.desc(), Outbox.not_before, Outbox.id)  # type: ignore[attr-defined]
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = []
        for row in session.exec(query):
            claimed.append((row, row.status == Status.sending))
            row.status = Status.sending
            row.lease_until = now + LEASE
            row.attempts += 1
            session.add(row)
    return claimed


def _finish(engine: Engine, row_id: int, **changes) -> None:
    with transaction(engine) as session:
        row = session.get(Outbox, row_id)
        if row is None or row.status != Status.sending:
            return
        for name, value in changes.items():
            setattr(row, name, value)
        row.lease_until = None
        session.add(row)


def _already_posted(client: WebClient, row: Outbox) -> dict | None:
    """The message a killed predecessor posted for this row, if Slack still shows it among the last 200."""
    try:
        channel = row.target
        if channel[:1] in "UW":  # a DM: its history lives in the D… conversation
            channel = client.conversations_open(users=channel)["channel"]["id"]
        history = client.conversations_history(channel=channel, include_all_metadata=True, limit=HISTORY_DEPTH)
    except SlackClientError:
        return None
    for message in history.get("messages", []):
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == METADATA_EVENT and metadata.get("event_payload", {}).get("id") == row.id:
            return {"channel": channel, "ts": message["ts"]}
    return None


def deliver_one(engine: Engine, client: WebClient, row: Outbox, now: datetime, tz, abandoned: bool) -> Outcome:
    late = now.astimezone(tz).date() > row.due_on
    if abandoned and (found := _already_posted(client, row)):
        _finish(engine, row.id, status=Status.sent, channel=found["channel"], ts=found["ts"], sent_at=now)
        return Outcome(row.id, row.key, row.target, "recovered", "posted before the crash", late)
    text, blocks = render(row, late)
    try:
        response = client.chat_postMessage(
            channel=row.target, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"id": row.id, "key": row.key}},
        )
    except SlackApiError as exc:
        return _failed(engine, row, now, exc.response.get("error") or f"HTTP {exc.response.status_code}",
                       exc.response.headers.get("Retry-After") if exc.response.status_code == 429 else None, late)
    except (SlackClientError, OSError) as exc:
        return _failed(engine, row, now, f"{type(exc).__name__}: {exc}"[:200], None, late)
    _finish(engine, row.id, status=Status.sent, channel=response["channel"], ts=response["ts"], sent_at=now,
            late=late, last_error=None)
    return Outcome(row.id, row.key, row.target, "sent", late=late)


def _failed(engine: Engine, row: Outbox, now: datetime, error: str, retry_after: str | None, late: bool) -> Outcome:
    if error in PERMANENT or row.attempts >= MAX_ATTEMPTS:
        _finish(engine, row.id, status=Status.dead, last_error=error)
        return Outcome(row.id, row.key, row.target, "dead", error, late)
    seconds = int(retry_after) if retry_after and retry_after.isdigit() else 30 * 2 ** (row.attempts - 1)
    wait = timedelta(seconds=max(1, seconds))
    _finish(engine, row.id, status=Status.pending, last_error=error, next_attempt_at=now + wait)
    return Outcome(row.id, row.key, row.target, "retry", f"{error}; next try in {int(wait.total_seconds())} s", late)


def deliver(engine: Engine, client: WebClient, now: datetime, alert=None, limit: int = 50) -> list[Outcome]:
    """Send everything claimable as of `now`, batch after batch; dead letters raise an operator alert."""
    outcomes: list[Outcome] = []
    while True:
        claimed = claim(engine, now, limit)
        if not claimed:
            return outcomes
        with transaction(engine) as session:
            zones = {p.id: p.tz for p in session.exec(select(Program).where(
                Program.id.in_({row.program_id for row, _ in claimed})))}  # type: ignore[union-attr]
        for row, abandoned in claimed:
            outcome = deliver_one(engine, client, row, now, zones[row.program_id], abandoned)
            outcomes.append(outcome)
            if outcome.result == "dead" and alert is not None:
                alert(f"A message could not be delivered and was dead-lettered: `{row.key}` to `{row.target}` "
                      f"({outcome.detail}).")
