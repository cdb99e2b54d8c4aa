"""The Slack calls that follow a saved change, after the ack, and the one way their failures are told.

By then the change is committed: a message Slack refuses (a DM, an update of an earlier message, a channel the
bot cannot create) must not read as if nothing happened, nor as if the change failed. Each listener and verb
makes those calls through an `Outcome`, which logs each refusal and, at the end, tells the person who acted
once: "The change was saved, but Slack refused: …", with what to do about it when there is something.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from commands.boundary import tell

log = logging.getLogger(__name__)

SAVED_BUT = ":warning: The change was saved, but Slack refused: "


class Outcome:
    """Slack calls made after the ack; failures are collected and told to the person who acted."""

    def __init__(self, client: WebClient):
        self.client = client
        self.failures: list[str] = []

    def call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """`fn(**kwargs)`, or None when Slack refuses it (the refusal is kept for `report`)."""
        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            self.refused(what, exc)
            return None

    def refused(self, what: str, exc: SlackApiError) -> None:
        """A refusal met elsewhere (a step of several calls) joins the others."""
        log.warning("%s failed: %s", what, exc.response.get("error"))
        self.failures.append(f"{what} (`{exc.response.get('error')}`)")

    def report(self, user_id: str, then: str = "") -> None:
        """Tell the person who acted, once, what Slack refused, and `then` what they can do about it."""
        if self.failures:
            tell(self.client, {"user_id": user_id}, SAVED_BUT + "; ".join(self.failures[:10])
                 + (f"\n{then}" if then else ""))
