"""Who a Slack user is: printed name (for signatures and audit rows) and whether they are outside the
company (a Slack Connect guest from the customer's workspace)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.engine import Engine

from store import programs
from store.audit import Actor
from store.db import transaction


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    external: bool
    tz: str | None = None


def look_up(client: WebClient, user_id: str, home_team: str | None = None) -> Person:
    """users.info; an unknown user (left the workspace) reads as external with their id as name."""
    try:
        user = client.users_info(user=user_id)["user"]
    except SlackApiError as exc:
        if exc.response.get("error") in ("user_not_found", "users_not_found"):
            return Person(user_id, user_id, external=True)
        raise
    profile = user.get("profile") or {}
    name = user.get("real_name") or profile.get("real_name") or user.get("name") or user_id
    external = bool(user.get("is_stranger")) or (home_team is not None and user.get("team_id") != home_team)
    return Person(user_id, name, external, user.get("tz"))


def classify(engine: Engine, client: WebClient, user_ids: Iterable[str], *, actor: Actor, now: datetime,
             home_team: str | None, seen: Callable[[Person], None] | None = None) -> list[str]:
    """Record which side each person is on, as Slack says (users.info), and hand each person Slack described
    to `seen` (the directory of printed names). Returns the people Slack could not answer for (5xx, 429, no
    connection): they stay outside the company until a later attempt succeeds — the scheduler's next pass
    (`classify_pending`) or their own next command."""
    failed: list[str] = []
    for user_id in dict.fromkeys(user_ids):
        try:
            person = look_up(client, user_id, home_team)
        except SlackClientError:
            failed.append(user_id)
            continue
        if seen is not None:
            seen(person)
        with transaction(engine) as session:
            programs.record_side(session, person.id, person.external, actor=actor, now=now)
    return failed


def classify_pending(engine: Engine, client: WebClient, now: datetime, actor: Actor) -> list[str]:
    """The retry: everyone Slack has not classified yet. The home team comes from auth.test."""
    with transaction(engine) as session:
        pending = programs.unclassified(session)
    if not pending:
        return []
    try:
        home_team = client.auth_test().get("team_id")
    except SlackClientError:
        return pending
    return classify(engine, client, pending, actor=actor, now=now, home_team=home_team)
