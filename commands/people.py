"""Who acts, by their printed name: the directory of names Slack gave (store.people), kept fresh after
acknowledgements, read (never asked of Slack) where a listener must answer before its ack."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.people import look_up
from commands.deps import Deps
from store import people
from store.audit import Actor
from store.db import transaction

log = logging.getLogger(__name__)

FRESH = timedelta(days=1)  # how long a name from Slack is used before asking again


def as_signer(deps: Deps, client: WebClient, user_id: str, fallback_tz: str) -> tuple[str, str]:
    """The printed name and time zone Slack holds for someone about to sign (users.info, after an ack): they
    travel sealed in the signing dialog, so its submission asks Slack nothing before its ack."""
    person = look_up(client, user_id)
    remember(deps, user_id, person.name)
    tz = person.tz or fallback_tz
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file path
        tz = fallback_tz
    return person.name[:255], tz


def printed_name(deps: Deps, user_id: str, session: Session | None = None) -> str | None:
    """From the directory; inside a transaction pass its session (a second one would wait for its lock)."""
    if session is None:
        with transaction(deps.engine) as own:
            return printed_name(deps, user_id, own)
    found = people.known(session, user_id)
    return found.real_name if found else None


def actor_of(deps: Deps, user: dict[str, Any], session: Session | None = None) -> Actor:
    """The person of a payload's `user`, named as the directory knows them (their handle until it does)."""
    return named(deps, user, printed_name(deps, user["id"], session))


def named(deps: Deps, user: dict[str, Any], real_name: str | None) -> Actor:
    """The person of a payload's `user`, of the printed name the directory holds (None: their handle)."""
    handle = user.get("name") or user.get("username") or user.get("user_name") or user["id"]
    return Actor(user["id"], real_name or handle, deps.is_admin(user["id"]))


def remember(deps: Deps, user_id: str, name: str) -> None:
    try:
        with transaction(deps.engine) as session:
            people.remember(session, user_id, name, deps.clock.now())
    except IntegrityError:  # a concurrent request remembered them first
        pass


def learn(deps: Deps, client: WebClient, user_id: str) -> str | None:
    """The person's printed name, asking Slack (users.info) when the directory has none or an old one.
    Only after an acknowledgement; a Slack failure leaves what was known."""
    with transaction(deps.engine) as session:
        found = people.known(session, user_id)
        if found is not None and deps.clock.now() - found.seen_at < FRESH:
            return found.real_name
        fallback = found.real_name if found else None
    try:
        person = look_up(client, user_id)
    except SlackApiError as exc:
        log.warning("users.info for a name failed: %s", exc.response.get("error"))
        return fallback
    remember(deps, user_id, person.name)
    return person.name
