"""Who, when and where of one request from Slack, worked out once for every listener.

A listener used to rebuild these by hand: the person from the payload's `user` (named as the directory knows
them), the clock read again at each step, the program re-authorized with the same three lines. `install`
adds one Bolt global middleware (`app.use`) that puts an `Interaction` in the request's `context` under
`interaction`; Bolt hands every value of the context to a listener that names it as an argument
(slack_bolt.kwargs_injection injects by name, the context's own keys included: bolt-python #709), so a
listener declares `interaction: Interaction` next to `ack` and `body` — in a plain Bolt app as in
`boundary.GuardedApp`, which hands arguments on the same way (tests/unit/test_interaction.py holds both).

Nothing here calls Slack or the database before the listener asks: the actor is read from the directory on
first use, so a request refused before its listener runs costs no query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from slack_bolt import App, BoltContext
from sqlmodel import Session

from commands import people
from commands.deps import Deps
from store.audit import Actor
from store.db import transaction
from store.programs import Access, Role, authorize, authorize_named

KEY = "interaction"  # the context key, and so the listener argument's name
RECEIVED = "received_at"  # a context key: when a request run later by a worker arrived (bot/worker.py)


class Acting(Protocol):
    """Who acts and when, as work shared by a listener and a `/cmo` verb takes it: an `Interaction`, or the
    router's `Request`."""

    @property
    def deps(self) -> Deps: ...

    @property
    def actor(self) -> Actor: ...

    @property
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Interaction:
    """One request: the dependencies, the person (`user`: the payload's id and handle), `now` read once from
    the clock when the request arrived, and where it came from."""

    deps: Deps
    now: datetime
    user: Mapping[str, Any]
    team_id: str | None = None
    channel_id: str | None = None
    _known: dict[str, Actor] = field(default_factory=dict, compare=False, repr=False)

    @property
    def user_id(self) -> str:
        return str(self.user["id"])

    @property
    def actor(self) -> Actor:
        return self.actor_in()

    def actor_in(self, session: Session | None = None) -> Actor:
        """The person, named as the directory knows them (their handle until it does); read once. Inside a
        transaction pass its session (a second one would wait for its lock)."""
        if "actor" not in self._known:
            self._known["actor"] = people.actor_of(self.deps, dict(self.user), session)
        return self._known["actor"]

    def _named(self, real_name: str | None) -> Actor:
        self._known["actor"] = people.named(self.deps, dict(self.user), real_name)
        return self._known["actor"]

    def __deepcopy__(self, memo: dict[int, Any]) -> Interaction:
        """Shared, not copied: Bolt copies a request's context for its lazy listeners (bot/worker.py hands
        them to the work queue), and an interaction holds the engine, which is not to be copied."""
        return self

    def session(self) -> AbstractContextManager[Session]:
        """One unit of work on the database (store.db.transaction)."""
        return transaction(self.deps.engine)

    def authorize(self, session: Session, *, code: str | None = None, channel_id: str | None = None,
                  roles: tuple[Role, ...] = (), doing: str = "", internal: str = "") -> Access:
        """The program named (or of `channel_id`) if the person may act on it: a role there (or admin), of the
        company when `internal` says what for, and one of `roles` when any are named; else NotFound or
        NotAllowed."""
        place = {"code": code, "channel_id": None if code else channel_id}
        if "actor" in self._known:
            access = authorize(session, self._known["actor"], **place)
        else:  # the person's name read with the program (a statement fewer): `actor_in` then reads nothing
            access = authorize_named(session, self.user_id, self._named, **place)
        if internal:
            access.require_internal(internal)
        if roles:
            access.require(*roles, doing=doing)
        return access


def of(deps: Deps, context: BoltContext, body: Mapping[str, Any]) -> Interaction:
    """The interaction of a request: the person from the payload's `user` (an object in buttons, forms and
    shortcuts; `user_id` and `user_name` in slash commands; the event's `user` in events), and `now` read from
    the clock — or, for a request a worker runs after its acknowledgement, the instant it arrived."""
    user = body.get("user")
    if not isinstance(user, Mapping):
        user = {"id": context.user_id or body.get("user_id") or "", "user_name": body.get("user_name")}
    team = body.get("team")
    team_id = (team.get("id") if isinstance(team, Mapping) else None) or body.get("team_id")  # the person's team
    received = context.get(RECEIVED)
    now = received if isinstance(received, datetime) else deps.clock.now()
    return Interaction(deps, now, user, team_id, context.channel_id)


def install(app: App, deps: Deps) -> None:
    """The global middleware that gives every listener its `interaction`."""

    def middleware(context: BoltContext, body: dict[str, Any], next: Callable[[], Any]) -> Any:  # noqa: A002
        context[KEY] = of(deps, context, body)
        return next()

    app.use(middleware)
