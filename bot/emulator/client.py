"""Sends the bot what Slack sends: slash commands, interactivity payloads and Events API callbacks.

Bodies follow Slack's real shapes (as documented and as in slackapi/bolt-python's tests) and are
signed with Slack's v0 scheme, so the bot's own request verification runs in every test.  Each
method can also sign badly (`sign="none" | "wrong" | "stale"`, or `secret=` another secret) to
test the refusals.  With an emulator attached, response URLs and trigger_ids point back at it, so
``respond()`` calls and opened modals are recorded and can be submitted with `submit_last_view`.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import requests

from bot.emulator import blockkit
from bot.emulator.server import SlackEmulator
from bot.emulator.socket_mode import Envelope

SIGN_MODES = ("valid", "none", "wrong", "stale")
STALE_SECONDS = 6 * 60  # Bolt refuses timestamps more than five minutes old
FORM = "application/x-www-form-urlencoded"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"

# How each input element reports its value in view.state.values (Slack's ViewStateValue).
TEXT_INPUTS = frozenset({"plain_text_input", "number_input", "email_text_input", "url_text_input"})
ONE_VALUE = {"users_select": "selected_user", "conversations_select": "selected_conversation",
             "channels_select": "selected_channel", "datepicker": "selected_date",
             "timepicker": "selected_time", "datetimepicker": "selected_date_time"}
MANY_VALUES = {"multi_users_select": "selected_users", "multi_conversations_select": "selected_conversations",
               "multi_channels_select": "selected_channels"}
ONE_OPTION = frozenset({"static_select", "external_select", "radio_buttons", "overflow"})
MANY_OPTIONS = frozenset({"multi_static_select", "multi_external_select", "checkboxes"})
# Where an untouched element's current value comes from: Slack reports initial values as state.
INITIAL_KEYS = {"users_select": "initial_user", "conversations_select": "initial_conversation",
                "channels_select": "initial_channel", "datepicker": "initial_date",
                "timepicker": "initial_time", "datetimepicker": "initial_date_time",
                "multi_users_select": "initial_users", "multi_conversations_select": "initial_conversations",
                "multi_channels_select": "initial_channels"}


def sign_request(secret: str, timestamp: int, body: str) -> str:
    """Slack's v0 signature: HMAC-SHA256 of ``v0:{timestamp}:{body}`` keyed by the signing secret."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={digest}"


def _option(element: Mapping[str, Any], value: Any) -> dict[str, Any]:
    """The option with `value` in `element`; an option the view never offered is still sent."""
    if isinstance(value, Mapping):
        return dict(value)
    for option in blockkit.iter_options(dict(element)):
        if option.get("value") == value:
            return copy.deepcopy(option)
    return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": str(value)}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, date):
        return value.isoformat()
    return value


def _initial(element: Mapping[str, Any]) -> Any:
    kind = element.get("type", "")
    if kind in TEXT_INPUTS:
        return element.get("initial_value")
    if kind in ONE_OPTION:
        return element.get("initial_option")
    if kind in MANY_OPTIONS:
        return element.get("initial_options")
    return element.get(INITIAL_KEYS.get(kind, ""))


class SlackSender:
    """Posts signed Slack requests to the bot's endpoint and returns the `requests.Response`.

    Responses carry what the test needs next: ``.payload`` (the dict sent), ``.trigger_id`` and
    ``.response_url_tag`` (to find the bot's ``respond()`` among the emulator's calls).
    """

    def __init__(self, endpoint_url: str, signing_secret: str, emulator: SlackEmulator | None = None,
                 team_id: str = "T0CMO", api_app_id: str = "A0CMOBOT", *, team_domain: str = "cmo-test",
                 verification_token: str = "legacy-verification-token", timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url
        self.signing_secret = signing_secret
        self.emulator = emulator
        self.team_id = team_id
        self.api_app_id = api_app_id
        self.team_domain = team_domain
        self.verification_token = verification_token
        self.timeout = timeout
        self._seq = itertools.count(1)

    # --- identities and one-time values -----------------------------------------------------

    def _user(self, user_id: str) -> dict[str, Any]:
        known = self.emulator.user(user_id) if self.emulator else None
        name = known["name"] if known else user_id.lower()
        return {"id": user_id, "username": name, "name": name,
                "team_id": known["team_id"] if known else self.team_id}

    def _team(self, team_id: str | None = None) -> dict[str, Any]:
        return {"id": team_id or self.team_id, "domain": self.team_domain}

    def _channel(self, channel_id: str, name: str | None = None) -> dict[str, Any]:
        if name is None:
            known = self.emulator.channel(channel_id) if self.emulator else None
            if known and known.get("is_im"):
                name = "directmessage"
            else:
                name = known["name"] if known else channel_id.lower()
        return {"id": channel_id, "name": name}

    def _trigger(self, user_id: str) -> str:
        trigger_id = f"{int(time.time() * 1000)}.{next(self._seq)}.{secrets.token_hex(16)}"
        if self.emulator:
            self.emulator.register_trigger(trigger_id, user_id)
        return trigger_id

    def _response_url(self, kind: str, channel: str | None = None,
                      message_ts: str | None = None) -> tuple[str, str]:
        tag = f"{kind}-{next(self._seq)}-{secrets.token_hex(3)}"
        if self.emulator:
            return tag, self.emulator.response_url(tag, channel=channel, message_ts=message_ts)
        return tag, f"https://hooks.slack.com/{kind}/{self.team_id}/{next(self._seq)}/{tag}"

    def _action_ts(self) -> str:
        return f"{time.time():.6f}"

    # --- transport ---------------------------------------------------------------------------

    def _signature_headers(self, body: str, sign: str, secret: str | None) -> dict[str, str]:
        if sign not in SIGN_MODES:
            raise ValueError(f"sign must be one of {SIGN_MODES}, not {sign!r}")
        if sign == "none":
            return {}
        timestamp = int(time.time()) - (STALE_SECONDS if sign == "stale" else 0)
        key = self.signing_secret if secret is None else secret
        # "wrong": a well-formed signature over a body other than the one sent (tampered in transit).
        signed_body = body + " " if sign == "wrong" else body
        return {"X-Slack-Request-Timestamp": str(timestamp),
                "X-Slack-Signature": sign_request(key, timestamp, signed_body)}

    def _post(self, kind: str, body: str, content_type: str, payload: Mapping[str, Any], *, sign: str,
              secret: str | None, headers: Mapping[str, str] | None = None, trigger_id: str | None = None,
              response_url_tag: str | None = None) -> requests.Response:
        """Deliver one request of `kind` (Socket Mode's envelope types) and note what the test needs next."""
        response = self._transmit(kind, body, content_type, payload, sign=sign, secret=secret, headers=headers)
        response.payload = dict(payload)  # type: ignore[attr-defined]
        response.trigger_id = trigger_id  # type: ignore[attr-defined]
        response.response_url_tag = response_url_tag  # type: ignore[attr-defined]
        return response

    def _transmit(self, kind: str, body: str, content_type: str, payload: Mapping[str, Any], *, sign: str,
                  secret: str | None, headers: Mapping[str, str] | None) -> requests.Response:
        """HTTP: the signed body POSTed to the bot's request URL."""
        all_headers = {"Content-Type": content_type, "User-Agent": USER_AGENT,
                       **self._signature_headers(body, sign, secret), **(headers or {})}
        return requests.post(self.endpoint_url, data=body.encode(), headers=all_headers, timeout=self.timeout)

    def _interactive(self, payload: dict[str, Any], *, sign: str, secret: str | None,
                     tag: str | None = None) -> requests.Response:
        """Interactivity requests are a form with one field, ``payload``, holding JSON."""
        body = urlencode({"payload": json.dumps(payload)})
        return self._post("interactive", body, FORM, payload, sign=sign, secret=secret,
                          trigger_id=payload.get("trigger_id"),
                          response_url_tag=tag)

    def _envelope(self, kind: str, user_id: str, team_id: str | None = None, *,
                  trigger: bool = True) -> dict[str, Any]:
        envelope = {"type": kind, "team": self._team(team_id), "user": self._user(user_id),
                    "api_app_id": self.api_app_id, "token": self.verification_token,
                    "is_enterprise_install": False, "enterprise": None}
        if trigger:
            envelope["trigger_id"] = self._trigger(user_id)
        return envelope

    # --- slash commands ----------------------------------------------------------------------

    def command(self, text: str, user_id: str, channel_id: str, command: str = "/cmo",
                channel_name: str | None = None, user_name: str | None = None, *, sign: str = "valid",
                secret: str | None = None) -> requests.Response:
        """A slash command, form-encoded with every field Slack sends, in Slack's order."""
        tag, response_url = self._response_url("commands", channel=channel_id)
        trigger_id = self._trigger(user_id)
        form = {
            "token": self.verification_token, "team_id": self.team_id, "team_domain": self.team_domain,
            "channel_id": channel_id, "channel_name": self._channel(channel_id, channel_name)["name"],
            "user_id": user_id, "user_name": user_name or self._user(user_id)["name"], "command": command,
            "text": text, "api_app_id": self.api_app_id, "is_enterprise_install": "false",
            "response_url": response_url, "trigger_id": trigger_id,
        }
        return self._post("slash_commands", urlencode(form), FORM, form, sign=sign, secret=secret,
                          trigger_id=trigger_id, response_url_tag=tag)

    # --- interactivity -----------------------------------------------------------------------

    @staticmethod
    def _find_action(blocks: Any, action_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        matches = ((b, e) for b, e in blockkit.iter_elements(blocks) if e.get("action_id") == action_id)
        return next(matches, None)

    def _locate(self, user_id: str, action_id: str, channel_id: str | None
                ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Find the message (newest first in `channel_id`) or the user's view showing `action_id`."""
        if self.emulator is None:
            return None, None
        if channel_id:
            for message in reversed(self.emulator.messages(channel_id)):
                if self._find_action(message.get("blocks"), action_id):
                    return message, None
            return None, None
        for view in (self.emulator.last_view(user_id), self.emulator.home_view(user_id)):
            if view and self._find_action(view.get("blocks"), action_id):
                return None, view
        return None, None

    def block_action(self, user_id: str, action_id: str, value: Any = None, block_id: str = "b", *,
                     channel_id: str | None = None, message: dict[str, Any] | None = None,
                     view: dict[str, Any] | None = None, selected_option: Any = None,
                     team_id: str | None = None, sign: str = "valid", secret: str | None = None
                     ) -> requests.Response:
        """A click (or selection) on an element of a message or a view.

        Without `message`/`view`, the newest bot message in `channel_id` showing `action_id` is
        used, else the user's open modal or home tab.  The element found there decides the
        action's type, text and real block_id; `block_id` is used only if it isn't found.
        """
        if message is None and view is None:
            message, view = self._locate(user_id, action_id, channel_id)
            if message is None and view is None:
                raise ValueError(f"no message or view shows action {action_id!r}; pass message= or view=")
        source = view if view is not None else message or {}
        found = self._find_action(source.get("blocks"), action_id)
        block, element = found if found else ({"block_id": block_id}, {"type": "button"})
        action: dict[str, Any] = {"action_id": action_id, "block_id": block.get("block_id", block_id),
                                  "type": element.get("type", "button"), "action_ts": self._action_ts()}
        if action["type"] == "button":
            action["text"] = element.get("text") or {"type": "plain_text", "text": action_id, "emoji": True}
            chosen = value if value is not None else element.get("value")
            if chosen is not None:
                action["value"] = chosen
        else:
            state = self._state_entry(element, selected_option if selected_option is not None else value)
            action.update({k: v for k, v in state.items() if k != "type"})
        payload = self._envelope("block_actions", user_id, team_id)
        payload["actions"] = [action]
        if view is not None:
            payload.update(container={"type": "view", "view_id": view.get("id")}, view=view)
            return self._interactive(payload, sign=sign, secret=secret)
        channel = channel_id or (message or {}).get("channel") or ""
        ts = (message or {}).get("ts")
        tag, response_url = self._response_url("actions", channel=channel, message_ts=ts)
        public_message = {k: v for k, v in (message or {}).items() if k != "channel"}
        payload.update(
            container={"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            channel=self._channel(channel), message=public_message, state={"values": {}},
            response_url=response_url,
        )
        return self._interactive(payload, sign=sign, secret=secret, tag=tag)

    def _state_entry(self, element: Mapping[str, Any], value: Any) -> dict[str, Any]:
        """One element's entry in view.state.values, in Slack's shape for its type."""
        kind = element.get("type", "")
        value = _plain(value)
        entry: dict[str, Any] = {"type": kind}
        if kind in TEXT_INPUTS:
            entry["value"] = None if value is None else str(value)
        elif kind in ONE_VALUE:
            entry[ONE_VALUE[kind]] = value
        elif kind in MANY_VALUES:
            entry[MANY_VALUES[kind]] = list(value or [])
        elif kind in ONE_OPTION:
            entry["selected_option"] = None if value is None else _option(element, value)
        elif kind in MANY_OPTIONS:
            entry["selected_options"] = [_option(element, v) for v in value or []]
        elif kind == "file_input":
            entry["files"] = [self._file(v) for v in value or []]
        elif kind == "rich_text_input":
            section = {"type": "rich_text_section", "elements": [{"type": "text", "text": str(value)}]}
            entry["rich_text_value"] = None if value is None else {"type": "rich_text", "elements": [section]}
        else:
            entry["value"] = value
        return entry

    def _file(self, file: Any) -> dict[str, Any]:
        if isinstance(file, Mapping):
            return dict(file)
        known = self.emulator.file_object(str(file)) if self.emulator else None
        return known or {"id": str(file)}

    def view_state(self, view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """``view.state.values`` for `values` ({block_id: value}).

        Inputs not in `values` report their initial value (None if they have none), as Slack does.
        """
        inputs = {b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"}
        unknown = set(values) - inputs
        if unknown:
            raise KeyError(f"no input block {sorted(unknown)} in the view; use view_submission_raw for those")
        state: dict[str, Any] = {}
        for block in view.get("blocks", []):
            element = block.get("element") or {}
            if block.get("type") != "input" or not element:
                continue
            block_id = block.get("block_id")
            value = values[block_id] if block_id in values else _initial(element)
            state[block_id] = {element.get("action_id"): self._state_entry(element, value)}
        return state

    def view_submission(self, user_id: str, view: Mapping[str, Any], values: Mapping[str, Any], *,
                        team_id: str | None = None, sign: str = "valid", secret: str | None = None
                        ) -> requests.Response:
        """The user pressing Submit on `view` after filling in `values` ({block_id: value})."""
        state = self.view_state(view, values)
        submitted = {**copy.deepcopy(dict(view)), "state": {"values": state}}
        payload = self._envelope("view_submission", user_id, team_id)
        payload.update(view=submitted, response_urls=self._submission_response_urls(view, state))
        response = self._interactive(payload, sign=sign, secret=secret)
        if response.status_code == 200 and response.text.strip().startswith("{"):
            refused = blockkit.check_response_action(dict(view), response.json())
            if refused is not None:  # Slack would show the person a generic error instead of the form's
                raise AssertionError(f"Slack refuses this answer to a view submission: {refused.response()}")
        return response

    def _submission_response_urls(self, view: Mapping[str, Any],
                                  state: dict[str, Any]) -> list[dict[str, Any]]:
        """Slack adds a response URL for each conversation picked in a `response_url_enabled` select."""
        urls = []
        for block in view.get("blocks", []):
            element = block.get("element") or {}
            if block.get("type") != "input" or not element.get("response_url_enabled"):
                continue
            entry = state[block["block_id"]][element.get("action_id")]
            channel = entry.get("selected_conversation") or entry.get("selected_channel")
            if channel:
                _, url = self._response_url("app", channel=channel)
                urls.append({"block_id": block["block_id"], "action_id": element.get("action_id"),
                             "channel_id": channel, "response_url": url})
        return urls

    def view_submission_raw(self, user_id: str, payload: Mapping[str, Any], *, sign: str = "valid",
                            secret: str | None = None) -> requests.Response:
        """A view_submission whose body the test wrote (tampered state, forged views, …)."""
        full = {**self._envelope("view_submission", user_id), **copy.deepcopy(dict(payload))}
        return self._interactive(full, sign=sign, secret=secret)

    def submit_last_view(self, user_id: str, values: Mapping[str, Any], **kwargs: Any) -> requests.Response:
        """Submit the modal the bot most recently opened for `user_id`."""
        if self.emulator is None:
            raise RuntimeError("submit_last_view needs the sender to be given the emulator")
        view = self.emulator.last_view(user_id)
        if view is None:
            raise AssertionError(f"the bot has not opened a modal for {user_id}")
        return self.view_submission(user_id, view, values, **kwargs)

    def view_closed(self, user_id: str, view: Mapping[str, Any], *, is_cleared: bool = False,
                    sign: str = "valid", secret: str | None = None) -> requests.Response:
        """The user closing a modal that asked for ``notify_on_close``."""
        payload = self._envelope("view_closed", user_id, trigger=False)
        payload.update(view=copy.deepcopy(dict(view)), is_cleared=is_cleared)
        return self._interactive(payload, sign=sign, secret=secret)

    def message_shortcut(self, callback_id: str, user_id: str, channel_id: str, message: Mapping[str, Any], *,
                         sign: str = "valid", secret: str | None = None) -> requests.Response:
        """A message shortcut ("…" menu on `message`); Slack calls its type ``message_action``."""
        public_message = {k: v for k, v in message.items() if k != "channel"}
        tag, response_url = self._response_url("app", channel=channel_id, message_ts=message.get("ts"))
        payload = self._envelope("message_action", user_id)
        payload.update(callback_id=callback_id, action_ts=self._action_ts(),
                       channel=self._channel(channel_id), message_ts=message.get("ts"),
                       message=public_message, response_url=response_url)
        return self._interactive(payload, sign=sign, secret=secret, tag=tag)

    def global_shortcut(self, callback_id: str, user_id: str, *, sign: str = "valid",
                        secret: str | None = None) -> requests.Response:
        payload = self._envelope("shortcut", user_id)
        payload.update(callback_id=callback_id, action_ts=self._action_ts())
        return self._interactive(payload, sign=sign, secret=secret)

    # --- Events API --------------------------------------------------------------------------

    def event(self, event: Mapping[str, Any], *, event_id: str | None = None, retry_num: int | None = None,
              retry_reason: str = "http_timeout", sign: str = "valid", secret: str | None = None
              ) -> requests.Response:
        """An Events API ``event_callback``; a person's message is also recorded in the emulator.

        Pass the same `event_id` with `retry_num` to replay a delivery the way Slack retries.
        """
        inner = copy.deepcopy(dict(event))
        channel, user = inner.get("channel"), inner.get("user")
        is_person = inner.get("type") in ("message", "app_mention") and not inner.get("bot_id")
        if self.emulator and is_person and channel and user and not inner.get("subtype"):
            stored = self.emulator.add_message(channel, inner.get("text", ""), user, ts=inner.get("ts"),
                                               thread_ts=inner.get("thread_ts"), blocks=inner.get("blocks"))
            inner.setdefault("ts", stored["ts"])
        now = time.time()
        inner.setdefault("event_ts", inner.get("ts") or f"{now:.6f}")
        where = channel or (inner.get("item") or {}).get("channel")  # reaction events carry it in `item`
        known = self.emulator.channel(where) if self.emulator and where else None
        envelope = {
            "token": self.verification_token, "team_id": self.team_id, "api_app_id": self.api_app_id,
            "event": inner, "type": "event_callback",
            "event_id": event_id or f"Ev0E{next(self._seq):08X}", "event_time": int(now),
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id,
                                "user_id": self._bot_user_id(), "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": bool(known and known.get("is_ext_shared")),
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        headers = {} if retry_num is None else {"X-Slack-Retry-Num": str(retry_num),
                                                "X-Slack-Retry-Reason": retry_reason}
        return self._post("events_api", json.dumps(envelope), "application/json", envelope, sign=sign,
                          secret=secret, headers=headers)

    def _bot_user_id(self) -> str:
        return self.emulator.bot_user_id if self.emulator else "U0CMOBOT"

    def url_verification(self, challenge: str, *, sign: str = "valid", secret: str | None = None
                         ) -> requests.Response:
        """The handshake Slack performs when the Events request URL is saved."""
        payload = {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        return self._post("url_verification", json.dumps(payload), "application/json", payload, sign=sign,
                          secret=secret)


@dataclass
class Acknowledgement:
    """The app's acknowledgement of an envelope, read like the HTTP path's `requests.Response`.

    ``status_code`` is 200 when the app acknowledged within Slack's 3 seconds, 504 when it did not
    (Slack would have shown the person ``operation_timeout``); ``text`` is the acknowledgement's
    payload as the JSON body the app would have answered over HTTP ("" for a plain ack).
    """

    status_code: int
    text: str
    envelope: Envelope

    @classmethod
    def of(cls, envelope: Envelope) -> Acknowledgement:
        if envelope.acked_at is None or envelope.late:
            return cls(504, "operation_timeout", envelope)
        return cls(200, json.dumps(envelope.ack) if envelope.ack else "", envelope)

    def json(self) -> Any:
        return json.loads(self.text)


class SocketModeSender(SlackSender):
    """The same requests as `SlackSender`, delivered as Socket Mode envelopes on the app's WebSocket.

    There is nothing to sign (the app opened the connection with its token), so the signing modes
    are refused rather than silently ignored: signature tests belong to the HTTP transport.
    """

    def __init__(self, emulator: SlackEmulator, **kwargs: Any) -> None:
        super().__init__("", "", emulator, **kwargs)

    def _transmit(self, kind: str, body: str, content_type: str, payload: Mapping[str, Any], *, sign: str,
                  secret: str | None, headers: Mapping[str, str] | None) -> Acknowledgement:
        if sign != "valid" or secret is not None:
            raise ValueError("Socket Mode envelopes are not signed; test signatures over HTTP")
        if kind == "url_verification":
            raise ValueError("Socket Mode has no url_verification handshake")
        assert self.emulator is not None
        envelope = self.emulator.socket_mode.deliver(kind, copy.deepcopy(dict(payload)),
                                                     accepts_response_payload=kind != "events_api",
                                                     wait=self.timeout)
        return Acknowledgement.of(envelope)
