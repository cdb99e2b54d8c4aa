"""Socket Mode: the Bolt app on a WebSocket that it opens to Slack (no public URL).

Bolt's `SocketModeHandler` (slack_sdk's built-in client) receives the envelopes, acknowledges them
and reconnects by itself when Slack asks it to (``disconnect``) or the connection drops. What this
module adds is the start: the first ``apps.connections.open`` is made here, so that a rejected or
unreachable app token stops start-up with one line (`SocketModeRefused`, `SlackUnreachable`) instead
of the client's logged traceback — and before the scheduler starts, so nothing claims it will retry.

With workers (bot/app.py's acknowledging role) each envelope's listener runs in the client's message thread
and its acknowledgement is sent when the listener returns: the ack and the queueing of its work, or a form's
write and hand-over, whose waits for a lock or a connection are bounded (store/db.py), so the ack still goes
back within Slack's 3 seconds.
"""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.settings import SettingsError

# What Slack answers apps.connections.open for a token that can never work: fix the setting, don't retry.
REFUSALS = {"invalid_auth", "not_authed", "token_revoked", "account_inactive", "not_allowed_token_type",
            "missing_scope", "no_permission"}


# slack_sdk's client notices a closed connection at its next ping round and then reconnects; Bolt's default
# of 10 s leaves people's commands waiting that long after Slack drops or refreshes a connection.
PING_SECONDS = 2.0


class SocketModeRefused(SettingsError):
    """Slack refused the app-level token (exit 2, like every other bad setting)."""


class SlackUnreachable(Exception):
    """Slack (or the WebSocket it handed out) could not be reached: try again later (exit 3)."""


def connect(app: App, app_token: str) -> SocketModeHandler:
    """Open the Socket Mode connection once, or raise one of the two errors above."""
    try:
        url = app.client.apps_connections_open(app_token=app_token)["url"]
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        if error in REFUSALS:
            raise SocketModeRefused(
                f"Slack refused SLACK_APP_TOKEN ({error}): create an app-level token with connections:write "
                "(Basic Information → App-Level Tokens) and set SLACK_APP_TOKEN to it") from None
        raise SlackUnreachable(f"Slack answered apps.connections.open with {error}") from None
    except (SlackClientError, OSError) as exc:
        raise SlackUnreachable(f"Slack is not reachable at {app.client.base_url} ({type(exc).__name__})") from None
    handler = SocketModeHandler(app, app_token, ping_interval=PING_SECONDS)
    handler.client.wss_uri = url  # the URL just issued, so the first connect needs no second call
    try:
        handler.connect()
    except Exception as exc:  # the client raises whatever its socket raised; any of it means "not connected"
        handler.close()
        raise SlackUnreachable(f"the Socket Mode WebSocket could not be opened ({type(exc).__name__})") from None
    return handler
