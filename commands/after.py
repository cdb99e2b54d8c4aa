"""A form submission's work after its acknowledgement, done by the workers when there are some.

Why: a form's acknowledgement carries its field errors, so the serving process runs the submission itself —
validate, act (the write), ack (commands/forms.py, `submit`) — unlike commands, buttons, shortcuts and events, which it
only queues (bot/worker.py). What a listener did after the ack (posting the channel notice, downloading and
filing the attached files, DMs, App Home) ran there too, in the acknowledging process, and made the
acknowledgements behind it wait: under 32 clients the after-ack notice alone was a quarter of serve's busy time
(bench/results.md). So a listener names that work instead of doing it: `later(who, client, "area.what",
**ids)` runs the follow-up registered under that name (`@follow_up("area.what")`) with a payload of ids —
program, rows, files, the person, and the request's own `now` — never objects and never a secret. With workers
(`Deps.hand_over`: serve and socket with --workers N) the payload is written to the durable `work` table and a
worker runs it (`run`); without (--workers 0, the demo, the in-process tests) it runs here right after the ack,
the same function. The person sees the same notices and DMs in the same order either way.

A form's act names its follow-up inside the transaction of its write (`later(..., session=session)`), before the
ack: the work row commits with the change and the form's receipt, or not at all. Written after the commit, as it
once was, a serving process killed in between lost it — Slack got no answer, the person submitted again, and the
receipt closed that quietly, so the files were never filed nor the DMs sent. Without workers the follow-up is
kept until that transaction commits and run after the ack (`after_ack`, commands/forms.py `submit`). A form
whose act writes nothing (it only checks) names it after the ack, committed by itself: killed before, it is
asked again.

A worker hands a follow-up on too, but only from a request of the forms queue (bot/worker.py `hand_over`): such a
request must open its modal within the three seconds Slack gives a trigger_id, and the next one waits for its
worker, so it opens the modal at once and leaves what fills it to the workers' other queue (App Home's *Show all*).

Why not Bolt's lazy listeners for forms (as commands are deferred): the worker would run the listener again on
the stored submission, which holds what the person typed (a signing form's code) and cannot tell what the act
saved; a named follow-up with ids holds neither.

Done once: a worker killed half-way leaves its claim to expire (store/work.py) and another runs the follow-up
again. A follow-up that ran to its end is marked so (a receipt, store/receipts.py), and a run that finds the
mark (the worker stopped before it could delete the row) does nothing. Inside one, each step that must not be
done twice by a run after a kill runs through `Run.once`: its mark is written in the step's own writing
transaction, or right after a step that writes only to Slack, and a step found marked is skipped. The channel
notices need no mark: they go through the outbox, whose rows are claimed and posted once
(scheduler/delivery.py). Done here, at once, a follow-up is run once by construction and writes no marks.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from slack_sdk import WebClient
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from commands.interaction import Interaction
from store import receipts

log = logging.getLogger("cmo_bot.work")

MODE = "after"  # a work row's mode for a follow-up (a request's is Bolt's: http, socket_mode)
WAITING = "after.waiting"  # in a session's info: the follow-ups to run after the ack once it commits (no workers)
T = TypeVar("T")


@dataclass(frozen=True)
class Run:
    """One run of a follow-up: the person and the request's `now` (`who`), the Slack client, and the
    follow-up's key, the same in every run of it (`once`)."""

    who: Interaction
    client: WebClient
    key: str | None  # None: run at once, by the process that acknowledged (run once by construction)

    def once(self, step: str, do: Callable[[], T]) -> T | None:
        """`do()` unless a run of this follow-up did this step before (None then)."""
        if self.key is None:
            return do()
        engine, key = self.who.deps.engine, receipts.key_of(f"after:{self.key}", step)
        try:
            with receipts.once(engine, key, self.who.now):
                done = do()
        except receipts.AlreadySubmitted:
            return None
        if not receipts.seen(engine, key):  # the step wrote nothing to the database: marked now
            receipts.mark(engine, key, self.who.now)
        return done


FollowUp = Callable[..., None]  # (run: Run, **payload)
REGISTERED: dict[str, FollowUp] = {}
# The follow-ups of the form being acted on whose transactions committed, run after its ack (no workers).
_COMMITTED: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_ack", default=None)


def follow_up(name: str, *, again: bool = False) -> Callable[[FollowUp], FollowUp]:
    """Register a follow-up under `name` (one name, one function: the workers find it by its name). `again`:
    registered by each app as it is wired, bound to what the app is wired with (the same in every app)."""

    def registering(function: FollowUp) -> FollowUp:
        if again:
            REGISTERED[name] = function
        elif REGISTERED.setdefault(name, function) is not function:
            raise ValueError(f"follow-up {name!r} registered twice")
        return function

    return registering


@contextmanager
def after_ack() -> Iterator[list[Callable[[], None]]]:
    """While a form's act runs (commands/forms.py `submit`): the follow-ups `later` named in its transactions
    that committed, for this process to run after the ack when it has no workers."""
    committed: list[Callable[[], None]] = []
    token = _COMMITTED.set(committed)
    try:
        yield committed
    finally:
        _COMMITTED.reset(token)


def later(who: Interaction, client: WebClient, name: str, *, session: Session | None = None, **payload: Any) -> None:
    """Have the follow-up `name` run with `payload` (JSON: ids, not objects): by a worker when this process
    has them, else here.

    A form's act that writes names its follow-up in the transaction of its write (`session`: the one that writes
    the form's receipt, store/receipts.py). With workers the follow-up's work row is written in that transaction:
    the change and its follow-up commit together or not at all, so a process killed right after the commit
    leaves the follow-up to a worker, and the receipt that closes a resubmission quietly never exists without
    it. A database that refuses the row fails the write with it, like any database error (a busy one is
    answered on the form, nothing saved: `submit`), and the person submits again. Running the follow-up here
    instead would need the change committed without its row — the loss this prevents — and a database that
    refuses an insert in the middle of a transaction (PostgreSQL aborts the transaction) seldom takes its
    commit. Without workers the follow-up runs here after the ack, once that transaction committed
    (`after_ack`); rolled back, it is forgotten with the change.

    Without `session` (a form whose act writes nothing, whose resubmission asks again; a worker's App Home), the
    row is committed by itself, and a database that cannot take it (down, busy past the serving wait) has the
    follow-up run here."""
    if name not in REGISTERED:
        raise KeyError(f"no follow-up named {name!r}")
    hand_over = who.deps.hand_over
    if hand_over is not None:
        body = json.dumps({"key": uuid.uuid4().hex, "user": dict(who.user), "payload": payload})
        if session is not None:
            if hand_over(name, body, who.now, session):
                return
        else:
            try:
                if hand_over(name, body, who.now, None):
                    return
            except SQLAlchemyError as exc:
                log.warning("follow-up %s not queued (%s): done in the serving process", name, type(exc).__name__)
    now = partial(REGISTERED[name], Run(who, client, None), **payload)
    if session is None:
        now()
    elif _COMMITTED.get() is None:
        raise RuntimeError("later(session=...) is for a form's act, inside commands.forms.submit")
    else:
        session.info.setdefault(WAITING, []).append(now)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    waiting, committed = session.info.pop(WAITING, None), _COMMITTED.get()
    if waiting and committed is not None:
        committed.extend(waiting)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(WAITING, None)


def run(who: Interaction, client: WebClient, name: str, body: str) -> None:
    """A worker runs a queued follow-up: the person and `now` of the request it follows (`who`); not again
    once a run of it reached its end."""
    stored = json.loads(body)
    engine, done = who.deps.engine, receipts.key_of(f"after:{stored['key']}", "done")
    if receipts.seen(engine, done):
        return
    who.actor_in()  # the person read now, not first inside a follow-up's transaction (a second would wait for it)
    REGISTERED[name](Run(who, client, stored["key"]), **stored["payload"])
    receipts.mark(engine, done, who.now)


def person(body: str) -> dict[str, Any]:
    """The person of a queued follow-up (its `user`, as the request had it)."""
    return dict(json.loads(body)["user"])
