"""Who a Slack user is: printed name (for signatures and audit rows) and whether they are outside the
company (a Slack Connect guest from the customer's workspace)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError


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
