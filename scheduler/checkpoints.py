"""Publishing the audit chain's checkpoints outside the database, and the scheduler's other upkeep.

A checkpoint (sequence number and head hash) goes to the alerts channel and to the document store at most
once an hour, and only when the chain has grown since the last one. Whoever rewrites or cuts the chain in
the database cannot reach either copy; `cmo-bot audit verify --checkpoint SEQ:HASH` (or the stored file)
checks the chain against one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot import people
from bot.settings import Settings
from store import audit, filing
from store.db import transaction

log = logging.getLogger("cmo_bot.audit")

EVERY = timedelta(hours=1)
FOLDER = "_audit"  # beside the program folders; "_" is not a program code's first character


def publish(engine: Engine, client: WebClient, settings: Settings, now: datetime) -> audit.Checkpoint | None:
    """Publish the head as a checkpoint when it is due; returns it, or None when nothing was due.

    The checkpoint is claimed in the database first (its row's key is the sequence number), so replicas
    running the same pass publish it once."""
    with transaction(engine) as session:
        head = audit.head_checkpoint(session)
        last = audit.last_published(session)
    if head is None or (last is not None and (last.seq >= head.seq or now - last.at < EVERY)):
        return None
    try:
        with transaction(engine) as session:
            audit.published(session, head, now)
    except IntegrityError:  # another replica claimed this one
        return None
    filing.file_document(settings.document_store(), FOLDER, "checkpoints",
                         name=f"audit-checkpoint-{head.seq:08d}.json", content=head.to_json(now).encode())
    if settings.cmo_alerts_channel:
        try:
            client.chat_postMessage(channel=settings.cmo_alerts_channel,
                                    text=f":lock: Audit checkpoint: row {head.seq}, head `{head.hash}`. Check the "
                                         f"trail against it: `cmo-bot audit verify --checkpoint {head}`")
        except SlackClientError as exc:  # the stored copy stands
            log.warning("audit checkpoint %s not posted: %s", head.seq, exc)
    return head


def upkeep(engine: Engine, client: WebClient, settings: Settings, now: datetime) -> list[str]:
    """What every scheduler pass does besides reminders: classify members Slack has not answered for yet,
    and publish a checkpoint of the audit chain. One line per thing done (for `tick`)."""
    lines = []
    try:
        failed = people.classify_pending(engine, client, now, audit.SYSTEM)
        if failed:
            lines.append(f"members still unclassified (Slack did not answer): {', '.join(failed)}")
    except SlackClientError as exc:
        log.warning("classifying members failed: %s", exc)
    checkpoint = publish(engine, client, settings, now)
    if checkpoint is not None:
        lines.append(f"audit checkpoint published: {checkpoint}")
    return lines
