"""The Web API client every part of the bot shares, with slack_sdk's own retry handlers.

429s wait as Retry-After says, 5xx and dropped connections are retried with backoff, inside the call;
what still fails reaches the caller as an exception (the outbox then retries later or dead-letters).
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings

log = logging.getLogger("cmo_bot.alerts")


def web_client(settings: Settings, timeout: int = 10) -> WebClient:
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=timeout,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


def alerter(client: WebClient, settings: Settings):
    """A function that sends an operational alert to CMO_ALERTS_CHANNEL, and always logs it."""

    def alert(text: str) -> None:
        log.error("alert: %s", text)
        if not settings.cmo_alerts_channel:
            return
        try:
            client.chat_postMessage(channel=settings.cmo_alerts_channel, text=f":rotating_light: {text}")
        except SlackClientError as exc:
            log.error("the alert could not be posted to %s: %s", settings.cmo_alerts_channel, exc)

    return alert
