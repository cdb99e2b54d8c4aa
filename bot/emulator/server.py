"""A local Slack for tests and demos: the Web API, response URLs and file hosting over real HTTP.

The bot talks to it exactly as it talks to Slack (``WebClient(base_url=emulator.url)``), so the
code under test is the production code.  Everything the bot does is recorded as a `Call`, answers
follow Slack's shapes and error codes, Block Kit is validated with Slack's limits, and faults or
rate limits can be switched on to see how the bot copes with a misbehaving Slack.

Two classes share the work: `_Workspace` is what Slack knows (users, channels, messages, views,
files) and answers API methods; `SlackEmulator` adds how it is reached (HTTP server, recording,
faults, rate limits, control endpoints for other processes).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import math
import mimetypes
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP as HTTP_POLICY
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.emulator import blockkit
from bot.emulator.socket_mode import SocketModeHub

log = logging.getLogger(__name__)

JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata")
FAULT_KEYS = frozenset({"status", "retry_after", "error", "delay", "drop", "only"})
STATUS_ERRORS = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable"}
TRIGGER_FORMAT = re.compile(r"^\d+\.\d+\.[0-9a-zA-Z]+$")
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
MAX_CHANNEL_NAME = 80
EXTERNAL_TEAM = "T0EXTERNAL"

# Slack's rate-limit tiers (docs.slack.dev/apis/web-api/rate-limits): "Tier 2: 20+ per minute",
# "Tier 3: 50+ per minute", "Tier 4: 100+ per minute".  chat.postMessage is "Special": it
# "generally allows posting one message per second per channel", "short bursts >1 allowed".
# auth.test is also "Special" and is left unlimited.  Each method's tier is the one on its
# reference page.  A tier is a bucket holding one minute's allowance, refilled evenly.
TIER_PER_MINUTE = {2: 20, 3: 50, 4: 100}
PUBLISHED_TIERS: dict[str, int] = {
    "chat.postEphemeral": 4, "chat.update": 3, "chat.delete": 3,
    "conversations.create": 2, "conversations.archive": 2, "conversations.info": 3,
    "conversations.invite": 3, "conversations.join": 3, "conversations.open": 3,
    "conversations.members": 4,
    "users.list": 2, "users.lookupByEmail": 3, "users.info": 4,
    "views.open": 4, "views.update": 4, "views.push": 4, "views.publish": 4,
    "files.info": 4, "files.delete": 3, "files.getUploadURLExternal": 4, "files.completeUploadExternal": 4,
    "reactions.add": 3,
}
POST_MESSAGE_BURST = 3  # Slack publishes no burst size; this is the emulator's choice.


@dataclass(frozen=True)
class Call:
    """One request the bot made, as received and as answered."""

    method: str
    args: dict[str, Any]
    token: str | None
    ts_received: float
    response: dict[str, Any]
    status: int = 200
    fault: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ApiError(Exception):
    """Raised by an API method to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body = {"ok": False, "error": error, **extra}


def _raise_if(rejection: blockkit.Rejection | None) -> None:
    if rejection is not None:
        body = rejection.response()
        raise ApiError(body.pop("error"), **{k: v for k, v in body.items() if k != "ok"})


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _split(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def _with_ids(blocks: Any) -> list[Any]:
    """Slack gives every stored block a block_id, and input elements an action_id, if the app didn't."""
    filled = copy.deepcopy(blocks) if isinstance(blocks, list) else []
    for block in filled:
        if isinstance(block, dict):
            block.setdefault("block_id", secrets.token_urlsafe(3))
            if block.get("type") == "input" and isinstance(block.get("element"), dict):
                block["element"].setdefault("action_id", secrets.token_urlsafe(3))
    return filled


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message as Slack returns it (without the emulator's `channel` key)."""
    return {k: copy.deepcopy(v) for k, v in message.items() if k != "channel"}


def _page(items: list[Any], args: dict[str, Any], key: str) -> dict[str, Any]:
    """Cursor pagination in Slack's shape; the cursor is an opaque base64 offset."""
    try:
        cursor = base64.b64decode(args.get("cursor") or "").decode()
        start = int(cursor.removeprefix("offset:") or 0)
    except ValueError as exc:
        raise ApiError("invalid_cursor") from exc
    try:
        limit = int(args.get("limit") or 0) or max(len(items), 1)
    except ValueError as exc:
        raise ApiError("invalid_limit") from exc
    end = start + limit
    following = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return {"ok": True, key: items[start:end], "response_metadata": {"next_cursor": following}}


# --- workspace records ------------------------------------------------------------------------------


@dataclass
class _Channel:
    id: str
    name: str
    members: list[str]
    is_private: bool = False
    archived: bool = False
    creator: str = ""
    created: int = field(default_factory=lambda: int(time.time()))
    im_user: str | None = None
    is_mpim: bool = False


@dataclass
class _File:
    id: str
    name: str
    content: bytes
    mimetype: str
    user: str
    title: str = ""
    created: int = field(default_factory=lambda: int(time.time()))
    channels: list[str] = field(default_factory=list)
    initial_comment: str | None = None
    thread_ts: str | None = None
    by_bot: bool = False
    off_slack_url: str | None = None  # files.info names this URL instead of the emulator's own
    external_type: str | None = None  # an external file (e.g. "gdrive"): mode "external", kept elsewhere
    redirect_to: str | None = None  # the emulator's file URL answers 302 to this address


@dataclass
class _Upload:
    filename: str
    length: int
    content: bytes | None = None


@dataclass
class _View:
    view: dict[str, Any]
    user: str | None


@dataclass
class _Trigger:
    user: str | None
    issued: float
    used: bool = False


def _issued(trigger_id: str) -> float:
    """The monotonic instant a trigger_id was issued, from its leading epoch milliseconds when it has them
    (within the last day), else now: so a trigger the emulator did not hand out still expires."""
    now, stamp = time.monotonic(), int(trigger_id.split(".", 1)[0]) / 1000
    age = time.time() - stamp
    return now - age if 0 <= age < 86_400 else now


_API: dict[str, Callable[[_Workspace, dict[str, Any]], dict[str, Any]]] = {}


def api(method: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register a `_Workspace` method as the handler of a Web API method."""

    def register(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        _API[method] = fn
        return fn

    return register


class _Workspace:
    """What Slack knows about one workspace, and the Web API methods that read or change it.

    Handlers run under ``self._lock`` and raise `ApiError` to refuse.
    """

    def __init__(self, *, team_id: str, team_domain: str, bot_user_id: str, bot_id: str, app_id: str,
                 require_membership: bool, trigger_ttl: float | None) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.require_membership = require_membership
        self.trigger_ttl = trigger_ttl
        self._lock = threading.RLock()
        self._init_state()

    def _init_state(self) -> None:
        self._seq = 0
        self._last_ts_us = 0
        self._users: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, _Channel] = {}
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._files: dict[str, _File] = {}
        self._uploads: dict[str, _Upload] = {}
        self._views: dict[str, _View] = {}
        self._view_log: list[str] = []
        self._stacks: dict[str, list[str]] = {}
        self._home: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, tuple[str | None, str | None]] = {}
        self.add_user(self.bot_user_id, "cmo-bot", real_name="CMO Bot", is_bot=True)

    def _link(self, path: str) -> str:
        """An absolute URL on this emulator (files, upload URLs, response URLs)."""
        raise NotImplementedError

    # --- seeding -------------------------------------------------------------------------------

    def add_user(self, id: str, name: str, real_name: str | None = None, tz: str = "UTC",
                 email: str | None = None, is_bot: bool = False, external: bool = False,
                 team_id: str | None = None, deleted: bool = False) -> dict[str, Any]:
        """Add a user; an external (Slack Connect) user belongs to another team and is a stranger."""
        team = team_id or (EXTERNAL_TEAM if external else self.team_id)
        try:
            now = datetime.now(ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            now = datetime.now()
        utc_offset = now.utcoffset()
        offset = int(utc_offset.total_seconds()) if utc_offset is not None else 0
        label = now.tzname() or tz
        profile: dict[str, Any] = {
            "real_name": real_name or name, "display_name": name, "team": team,
            "real_name_normalized": real_name or name, "display_name_normalized": name,
            "image_48": f"https://avatars.example/{id}_48.png",
        }
        if email:
            profile["email"] = email
        user = {
            "id": id, "team_id": team, "name": name, "deleted": deleted, "real_name": real_name or name,
            "tz": tz, "tz_label": label, "tz_offset": offset, "profile": profile,
            "is_admin": False, "is_owner": False, "is_primary_owner": False,
            "is_restricted": False, "is_ultra_restricted": False,
            "is_bot": is_bot, "is_app_user": False, "updated": int(time.time()),
        }
        if team != self.team_id:
            user["is_stranger"] = True
        with self._lock:
            self._users[id] = user
        return copy.deepcopy(user)

    def add_channel(self, id: str, name: str, members: Iterable[str] = (), is_private: bool = False,
                    archived: bool = False) -> dict[str, Any]:
        with self._lock:
            channel = _Channel(id, name, list(members), is_private=is_private, archived=archived)
            self._channels[id] = channel
            return self._channel_object(channel)

    def add_file(self, id: str, name: str, content: bytes, mimetype: str = "application/octet-stream",
                 user: str = "U0UPLOADER", *, off_slack_url: str | None = None, external_type: str | None = None,
                 redirect_to: str | None = None) -> dict[str, Any]:
        """Add a file; the keyword options make it one whose download leads off Slack (to test that the bot
        never sends its token there): a URL elsewhere, an external file, or a redirect from Slack's URL."""
        with self._lock:
            self._files[id] = _File(id, name, content, mimetype, user, title=name, off_slack_url=off_slack_url,
                                    external_type=external_type, redirect_to=redirect_to)
            return self._file_object(self._files[id])

    def add_message(self, channel: str, text: str, user: str, *, ts: str | None = None,
                    thread_ts: str | None = None,
                    blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Record a message a person wrote, so the bot can react to, thread on or quote it."""
        with self._lock:
            ts = ts or self._next_ts()
            team = self._users.get(user, {}).get("team_id", self.team_id)
            message = {"type": "message", "channel": channel, "ts": ts, "user": user, "team": team,
                       "text": text, "blocks": blocks or []}
            if thread_ts:
                message["thread_ts"] = thread_ts
            self._messages.setdefault((channel, ts), message)
            return copy.deepcopy(self._messages[(channel, ts)])

    def register_trigger(self, trigger_id: str, user_id: str | None) -> None:
        """Remember who a trigger_id belongs to, so the view opened with it is theirs."""
        with self._lock:
            self._triggers[trigger_id] = _Trigger(user_id, time.monotonic())

    def response_url(self, tag: str, *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A response URL; bound to a message, `replace_original`/`delete_original` act on it."""
        with self._lock:
            self._response_urls[tag] = (channel, message_ts)
        return self._link(f"/respond/{quote(tag)}")

    # --- queries ---------------------------------------------------------------------------------

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._users.get(user_id)
            return copy.deepcopy(found) if found else None

    def member(self, user_id: str) -> dict[str, Any]:
        """A user added with `add_user`; LookupError for anyone else."""
        found = self.user(user_id)
        if found is None:
            raise LookupError(f"there is no user {user_id} in the emulator")
        return found

    def channel(self, channel_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._channels.get(channel_id)
            return self._channel_object(found) if found else None

    def messages(self, channel: str | None = None, *,
                 include_user_messages: bool = False) -> list[dict[str, Any]]:
        """Current state of the bot's messages (text, blocks, edits, reactions), oldest first."""
        with self._lock:
            return [copy.deepcopy(m) for (c, _), m in self._messages.items()
                    if (channel is None or c == channel)
                    and (include_user_messages or m.get("user") == self.bot_user_id)]

    def conversations_of(self, user: str) -> list[dict[str, Any]]:
        """The channels `user` is a member of (as conversations.list shows them), then their DM with the bot."""
        with self._lock:
            found = [self._channel_object(c) for c in self._channels.values()
                     if user in c.members and not c.im_user and not c.archived]
            found.append(self._channel_object(self._dm(user)))
            return found

    def file_bytes(self, file_id: str) -> bytes | None:
        with self._lock:
            found = self._files.get(file_id)
            return found.content if found else None

    def last_view(self, user: str | None = None) -> dict[str, Any] | None:
        """The modal most recently opened, pushed or updated (for `user`), ready to submit."""
        with self._lock:
            for view_id in reversed(self._view_log):
                record = self._views[view_id]
                if record.view["type"] == "modal" and (user is None or record.user == user):
                    return copy.deepcopy(record.view)
        return None

    def open_view(self, user: str | None = None) -> dict[str, Any]:
        """`last_view` where the caller knows a modal is open; LookupError when none is."""
        view = self.last_view(user)
        if view is None:
            raise LookupError(f"no modal is open{f' for {user}' if user else ''}")
        return view

    def home_view(self, user: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home.get(user)
            return copy.deepcopy(self._views[view_id].view) if view_id else None

    def uploaded_files(self) -> list[dict[str, Any]]:
        """Files the bot uploaded, with their bytes and where they were shared."""
        with self._lock:
            return [{"id": f.id, "name": f.name, "title": f.title, "bytes": f.content, "mimetype": f.mimetype,
                     "channel": f.channels[0] if f.channels else None, "channels": list(f.channels),
                     "initial_comment": f.initial_comment, "thread_ts": f.thread_ts}
                    for f in self._files.values() if f.by_bot]

    def file_object(self, file_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._files.get(file_id)
            return self._file_object(found) if found else None

    # --- shared helpers ------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}0E{self._seq:07X}"

    def _next_ts(self) -> str:
        """Message timestamps: microseconds since the epoch, strictly increasing, Slack's format."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _channel_object(self, channel: _Channel) -> dict[str, Any]:
        base: dict[str, Any] = {"id": channel.id, "created": channel.created, "is_archived": channel.archived,
                                "is_org_shared": False, "context_team_id": self.team_id}
        if channel.im_user:
            return {**base, "is_im": True, "user": channel.im_user, "is_user_deleted": False}
        external = any(self._users.get(m, {}).get("is_stranger") for m in channel.members)
        return {
            **base, "name": channel.name, "name_normalized": channel.name,
            "is_channel": not channel.is_private and not channel.is_mpim, "is_group": channel.is_private,
            "is_im": False, "is_mpim": channel.is_mpim, "is_private": channel.is_private or channel.is_mpim,
            "is_general": False, "is_shared": external, "is_ext_shared": external,
            "is_pending_ext_shared": False, "is_member": self.bot_user_id in channel.members,
            "creator": channel.creator, "num_members": len(channel.members),
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }

    def _file_object(self, f: _File) -> dict[str, Any]:
        name = quote(f.name)
        ims = [c for c in f.channels if self._channels.get(c) and self._channels[c].im_user]
        found = {
            "id": f.id, "created": f.created, "timestamp": f.created, "name": f.name, "title": f.title,
            "mimetype": f.mimetype, "filetype": f.name.rsplit(".", 1)[-1] if "." in f.name else "binary",
            "user": f.user, "user_team": self.team_id, "size": len(f.content), "mode": "hosted",
            "is_external": False, "is_public": bool(f.channels), "editable": False,
            "url_private": f.off_slack_url or self._link(f"/files/{f.id}/{name}"),
            "url_private_download": f.off_slack_url or self._link(f"/files/{f.id}/download/{name}"),
            "permalink": f"https://{self.team_domain}.slack.com/files/{f.user}/{f.id}/{name}",
            "channels": [c for c in f.channels if c not in ims], "groups": [], "ims": ims,
            "comments_count": 0,
        }
        if f.external_type:  # as Slack shows a Google Drive share: no download URL of its own
            found.update(mode="external", is_external=True, external_type=f.external_type,
                         url_private=f.off_slack_url or f"https://drive.example/{f.id}")
            found.pop("url_private_download")
        return found

    def _user(self, user_id: Any) -> dict[str, Any]:
        user = self._users.get(str(user_id or ""))
        if user is None:
            raise ApiError("user_not_found")
        return user

    def _known_channel(self, channel_id: Any) -> _Channel:
        channel = self._channels.get(str(channel_id or ""))
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    @staticmethod
    def _stable_id(prefix: str, key: str) -> str:
        return prefix + hashlib.sha1(key.encode()).hexdigest()[:10].upper()

    def _dm(self, user_id: str) -> _Channel:
        """The one DM channel per user, created on first use like conversations.open does."""
        channel_id = self._stable_id("D", user_id)
        if channel_id not in self._channels:
            members = [user_id, self.bot_user_id]
            self._channels[channel_id] = _Channel(channel_id, "", members, im_user=user_id)
        return self._channels[channel_id]

    def _postable(self, target: Any) -> _Channel:
        """Resolve a channel id, a #name or a user id (its DM), and refuse where Slack would."""
        target = str(target or "")
        if target in self._users and target[:1] in "UW":
            return self._dm(target)
        channel = self._channels.get(target) or next(
            (c for c in self._channels.values() if c.name and c.name == target.removeprefix("#")), None)
        if channel is None:
            raise ApiError("channel_not_found")
        if channel.archived:
            raise ApiError("is_archived")
        if self.require_membership and not channel.im_user and self.bot_user_id not in channel.members:
            raise ApiError("not_in_channel")
        return channel

    def _bot_message(self, channel: str, ts: str, args: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message", "channel": channel, "ts": ts, "user": self.bot_user_id, "bot_id": self.bot_id,
            "app_id": self.app_id, "team": self.team_id, "text": args.get("text") or "",
            "blocks": _with_ids(args.get("blocks")),
        }
        for key in ("thread_ts", "metadata", "attachments"):
            if args.get(key):
                message[key] = args[key]
        return message

    def _own_message(self, channel: _Channel, ts: Any, not_mine: str) -> dict[str, Any]:
        message = self._messages.get((channel.id, str(ts or "")))
        if message is None:
            raise ApiError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise ApiError(not_mine)
        return message

    # --- chat ------------------------------------------------------------------------------------

    @api("auth.test")
    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"https://{self.team_domain}.slack.com/", "team": self.team_domain,
                "user": self._users[self.bot_user_id]["name"], "team_id": self.team_id,
                "user_id": self.bot_user_id, "bot_id": self.bot_id, "is_enterprise_install": False}

    @api("chat.postMessage")
    def _post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        _raise_if(blockkit.check_message(args.get("text"), args.get("blocks"), args.get("attachments")))
        ts = self._next_ts()
        message = self._bot_message(channel.id, ts, args)
        self._messages[(channel.id, ts)] = message
        return {"ok": True, "channel": channel.id, "ts": ts, "message": _public(message)}

    @api("chat.postEphemeral")
    def _post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        user = self._user(args.get("user"))
        if self.require_membership and not channel.im_user and user["id"] not in channel.members:
            raise ApiError("user_not_in_channel")
        _raise_if(blockkit.check_message(args.get("text"), args.get("blocks"), args.get("attachments")))
        return {"ok": True, "message_ts": self._next_ts()}

    @api("chat.update")
    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._known_channel(args.get("channel"))
        message = self._own_message(channel, args.get("ts"), "cant_update_message")
        _raise_if(blockkit.check_message(args.get("text"), args.get("blocks"), args.get("attachments")))
        for key in ("text", "attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        if "blocks" in args:
            message["blocks"] = _with_ids(args["blocks"])
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"ok": True, "channel": channel.id, "ts": message["ts"], "text": message["text"],
                "message": _public(message)}

    @api("chat.delete")
    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._known_channel(args.get("channel"))
        message = self._own_message(channel, args.get("ts"), "cant_delete_message")
        del self._messages[(channel.id, message["ts"])]
        return {"ok": True, "channel": channel.id, "ts": message["ts"]}

    @api("reactions.add")
    def _react(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("timestamp"):
            raise ApiError("no_item_specified")
        if not args.get("name"):
            raise ApiError("invalid_name")
        channel = self._postable(args["channel"])
        message = self._messages.get((channel.id, str(args["timestamp"])))
        if message is None:
            raise ApiError("message_not_found")
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == args["name"]), None)
        if reaction is None:
            reactions.append({"name": args["name"], "users": [self.bot_user_id], "count": 1})
        elif self.bot_user_id in reaction["users"]:
            raise ApiError("already_reacted")
        else:
            reaction["users"].append(self.bot_user_id)
            reaction["count"] += 1
        return {"ok": True}

    # --- conversations -------------------------------------------------------------------------

    @api("conversations.create")
    def _create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise ApiError("invalid_name_required")
        if len(name) > MAX_CHANNEL_NAME:
            raise ApiError("invalid_name_maxlength")
        if not CHANNEL_NAME.match(name):
            raise ApiError("invalid_name_specials")
        if not name.strip("-_"):
            raise ApiError("invalid_name_punctuation")
        if any(c.name == name for c in self._channels.values()):
            raise ApiError("name_taken")
        channel = _Channel(self._next_id("C"), name, [self.bot_user_id],
                           is_private=_truthy(args.get("is_private")), creator=self.bot_user_id)
        self._channels[channel.id] = channel
        return {"ok": True, "channel": self._channel_object(channel)}

    @api("conversations.info")
    def _info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": self._channel_object(self._known_channel(args.get("channel")))}

    @api("conversations.invite")
    def _invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable(args.get("channel"))
        if channel.im_user:
            raise ApiError("method_not_supported_for_channel_type")
        users = _split(args.get("users"))
        if not users:
            raise ApiError("no_user")
        if self.bot_user_id in users:
            raise ApiError("cant_invite_self")
        for user_id in users:
            if self._user(user_id)["deleted"]:
                raise ApiError("cant_invite")
        new = [u for u in users if u not in channel.members]
        if not new:
            raise ApiError("already_in_channel")
        channel.members.extend(new)
        return {"ok": True, "channel": self._channel_object(channel)}

    @api("conversations.join")
    def _join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._known_channel(args.get("channel"))
        if channel.is_private or channel.im_user or channel.is_mpim:
            raise ApiError("method_not_supported_for_channel_type")
        if channel.archived:
            raise ApiError("is_archived")
        body: dict[str, Any] = {"ok": True}
        if self.bot_user_id in channel.members:
            body["warning"] = "already_in_channel"
        else:
            channel.members.append(self.bot_user_id)
        return {**body, "channel": self._channel_object(channel)}

    @api("conversations.members")
    def _members(self, args: dict[str, Any]) -> dict[str, Any]:
        return _page(list(self._known_channel(args.get("channel")).members), args, "members")

    @api("conversations.history")
    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Messages of a channel, newest first, between `oldest` and `latest`; metadata only when asked."""
        channel = self._known_channel(args.get("channel"))
        try:
            oldest = float(args.get("oldest") or 0)
            latest = float(args.get("latest") or "inf")
        except ValueError as exc:
            raise ApiError("invalid_ts_oldest") from exc
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        found = sorted((m for (c, ts), m in self._messages.items()
                        if c == channel.id and oldest <= float(ts) <= latest),
                       key=lambda m: float(m["ts"]), reverse=True)
        shown = [{k: v for k, v in _public(m).items() if with_metadata or k != "metadata"} for m in found]
        body = _page(shown, args, "messages")
        return {**body, "has_more": bool(body["response_metadata"]["next_cursor"])}

    @api("conversations.open")
    def _open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            return {"ok": True, "channel": {"id": self._known_channel(args["channel"]).id}}
        users = _split(args.get("users"))
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 8:
            raise ApiError("too_many_users")
        for user_id in users:
            if self._user(user_id)["deleted"]:
                raise ApiError("user_disabled")
        if len(users) == 1:
            existed = self._stable_id("D", users[0]) in self._channels
            channel = self._dm(users[0])
        else:
            channel_id = self._stable_id("G", ",".join(sorted(set(users))))
            existed = channel_id in self._channels
            self._channels.setdefault(channel_id, _Channel(channel_id, "mpdm-" + "--".join(users) + "-1",
                                                           [*users, self.bot_user_id], is_mpim=True))
            channel = self._channels[channel_id]
        body: dict[str, Any] = {"ok": True, "channel": {"id": channel.id}}
        if existed:
            body.update(no_op=True, already_open=True)
        return body

    @api("conversations.archive")
    def _archive(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._known_channel(args.get("channel"))
        if channel.im_user:
            raise ApiError("method_not_supported_for_channel_type")
        if channel.archived:
            raise ApiError("already_archived")
        channel.archived = True
        return {"ok": True}

    # --- users -----------------------------------------------------------------------------------

    @api("users.info")
    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user": copy.deepcopy(self._user(args.get("user")))}

    @api("users.list")
    def _users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return _page([copy.deepcopy(u) for u in self._users.values()], args, "members")

    @api("users.lookupByEmail")
    def _lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for user in self._users.values():
            if email and user["profile"].get("email", "").lower() == email:
                return {"ok": True, "user": copy.deepcopy(user)}
        raise ApiError("users_not_found")

    # --- views -----------------------------------------------------------------------------------

    def _exchange_trigger(self, trigger_id: Any) -> str | None:
        """Triggers are single use; unknown but well-formed ones are accepted with no known user, issued when
        their leading number says if it reads as the epoch milliseconds a sender stamped it with (this
        emulator's client and the benchmarks do), else now."""
        trigger_id = str(trigger_id or "")
        if not TRIGGER_FORMAT.match(trigger_id):
            raise ApiError("invalid_trigger_id")
        trigger = self._triggers.setdefault(trigger_id, _Trigger(None, _issued(trigger_id)))
        if trigger.used:
            raise ApiError("exchanged_trigger_id")
        if self.trigger_ttl is not None and time.monotonic() - trigger.issued > self.trigger_ttl:
            raise ApiError("expired_trigger_id")
        trigger.used = True
        return trigger.user

    def _checked_view(self, view: Any, expected_type: str, replacing: str | None = None) -> dict[str, Any]:
        """The view the app sent, if Slack would accept it (valid, external_id not taken)."""
        _raise_if(blockkit.check_view(view, expected_type=expected_type))
        external_id = view.get("external_id")
        if external_id and any(view_id != replacing and record.view.get("external_id") == external_id
                               for view_id, record in self._views.items()):
            raise ApiError("duplicate_external_id")
        return dict(view)

    def _view_object(self, view: dict[str, Any], view_id: str, root: str,
                     previous: str | None) -> dict[str, Any]:
        """A view as Slack returns it: the app's fields plus id, hash, state and ownership."""
        return {
            "id": view_id, "team_id": self.team_id, "type": view["type"],
            "blocks": _with_ids(view.get("blocks")),
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "state": {"values": {}}, "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": view.get("title"), "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)), "close": view.get("close"),
            "submit": view.get("submit"), "previous_view_id": previous, "root_view_id": root,
            "app_id": self.app_id, "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id, "bot_id": self.bot_id,
        }

    def _store_view(self, view: dict[str, Any], user: str | None, *, view_id: str | None = None,
                    root: str | None = None, previous: str | None = None) -> dict[str, Any]:
        view_id = view_id or self._next_id("V")
        stored = self._view_object(view, view_id, root or view_id, previous)
        self._views[view_id] = _View(stored, user)
        self._view_log.append(view_id)
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _find_view(self, args: dict[str, Any]) -> _View:
        if args.get("view_id"):
            found = self._views.get(str(args["view_id"]))
        else:
            found = next((v for v in self._views.values()
                          if args.get("external_id") and v.view["external_id"] == args["external_id"]), None)
        if found is None:
            raise ApiError("not_found")
        if args.get("hash") and args["hash"] != found.view["hash"]:
            raise ApiError("hash_conflict")
        return found

    @api("views.open")
    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._checked_view(args.get("view"), "modal")
        user = self._exchange_trigger(args.get("trigger_id"))
        answer = self._store_view(view, user)
        if user:
            self._stacks[user] = [answer["view"]["id"]]
        return answer

    @api("views.push")
    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        view = self._checked_view(args.get("view"), "modal")
        user = self._exchange_trigger(args.get("trigger_id"))
        stack = self._stacks.setdefault(user, []) if user else []
        if len(stack) >= 3:
            raise ApiError("push_limit_reached")
        answer = self._store_view(view, user, root=stack[0] if stack else None,
                                  previous=stack[-1] if stack else None)
        stack.append(answer["view"]["id"])
        return answer

    @api("views.update")
    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        record = self._find_view(args)
        old = record.view
        view = self._checked_view(args.get("view"), old["type"], replacing=old["id"])
        view["external_id"] = view.get("external_id") or old["external_id"]
        return self._store_view(view, record.user, view_id=old["id"], root=old["root_view_id"],
                                previous=old["previous_view_id"])

    @api("views.publish")
    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("user_id"):
            raise ApiError("invalid_arguments",
                           response_metadata={"messages": ["[ERROR] missing required field: user_id"]})
        user = self._user(args["user_id"])["id"]
        current = self._home.get(user)
        view = self._checked_view(args.get("view"), "home", replacing=current)
        if current and args.get("hash") and args["hash"] != self._views[current].view["hash"]:
            raise ApiError("hash_conflict")
        answer = self._store_view(view, user, view_id=current)
        self._home[user] = answer["view"]["id"]
        return answer

    # --- files -----------------------------------------------------------------------------------

    @api("files.getUploadURLExternal")
    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length") or 0)
        except ValueError as exc:
            raise ApiError("invalid_arguments") from exc
        if not filename or length <= 0:
            raise ApiError("missing_argument")
        file_id = self._next_id("F")
        self._uploads[file_id] = _Upload(filename, length)
        return {"ok": True, "upload_url": self._link(f"/upload/v1/{file_id}"), "file_id": file_id}

    def _receive_upload(self, file_id: str, content: bytes) -> bool:
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is None:
                return False
            upload.content = content
            return True

    @api("files.completeUploadExternal")
    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise ApiError("invalid_arguments")
        targets = [args["channel_id"]] if args.get("channel_id") else _split(args.get("channels"))
        channels = [self._postable(t) for t in targets]
        comment = args.get("initial_comment")
        shared: list[dict[str, Any]] = []
        for entry in entries:
            upload = self._uploads.get(str(entry.get("id")))
            if upload is None or upload.content is None:
                raise ApiError("file_not_found")
        for entry in entries:
            upload = self._uploads.pop(entry["id"])
            mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
            f = _File(entry["id"], upload.filename, upload.content or b"", mimetype,
                      self.bot_user_id, title=entry.get("title") or upload.filename,
                      channels=[c.id for c in channels], initial_comment=comment,
                      thread_ts=args.get("thread_ts"), by_bot=True)
            self._files[f.id] = f
            shared.append(self._file_object(f))
        for channel in channels:
            ts = self._next_ts()
            message = self._bot_message(channel.id, ts, {"text": comment, "thread_ts": args.get("thread_ts")})
            self._messages[(channel.id, ts)] = {**message, "files": copy.deepcopy(shared), "upload": True}
        return {"ok": True, "files": shared}

    @api("files.delete")
    def _files_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._files.pop(str(args.get("file") or ""), None) is None:
            raise ApiError("file_not_found")
        return {"ok": True}

    @api("files.info")
    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        found = self._files.get(str(args.get("file") or ""))
        if found is None:
            raise ApiError("file_not_found")
        return {"ok": True, "file": self._file_object(found), "comments": [],
                "response_metadata": {"next_cursor": ""}}

    # --- response URLs ---------------------------------------------------------------------------

    def _respond(self, tag: str, payload: dict[str, Any]) -> blockkit.Rejection | None:
        """Apply a response_url post the way Slack does; return why it is refused, if it is."""
        with self._lock:
            channel, message_ts = self._response_urls.get(tag, (None, None))
            original = self._messages.get((channel or "", message_ts or ""))
            if _truthy(payload.get("delete_original")):
                if original is not None:
                    del self._messages[(original["channel"], original["ts"])]
                return None
            rejection = blockkit.check_message(payload.get("text"), payload.get("blocks"),
                                               payload.get("attachments"))
            if rejection is not None:
                return rejection
            if _truthy(payload.get("replace_original")) and original is not None:
                original.update(text=payload.get("text") or "", blocks=_with_ids(payload.get("blocks")))
                original["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
            elif payload.get("response_type") == "in_channel" and channel:
                ts = self._next_ts()
                self._messages[(channel, ts)] = self._bot_message(channel, ts, payload)
            return None


# --- HTTP plumbing ----------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    drop: bool = False

    @classmethod
    def json(cls, payload: dict[str, Any], status: int = 200,
             headers: dict[str, str] | None = None) -> _Reply:
        return cls(status, json.dumps(payload).encode(), headers=headers or {}, record=payload)

    @classmethod
    def text(cls, text: str, status: int = 200, record: dict[str, Any] | None = None,
             content_type: str = "text/plain; charset=utf-8",
             headers: dict[str, str] | None = None) -> _Reply:
        return cls(status, text.encode(), content_type, headers or {}, record or {"ok": status < 400})


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
    """Arguments and uploaded files from a JSON, form-encoded or multipart body."""
    if not body:
        return {}, []
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        parsed = json.loads(body)
        return (parsed if isinstance(parsed, dict) else {}), []
    if kind == "multipart/form-data":
        message = BytesParser(policy=HTTP_POLICY).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        args: dict[str, Any] = {}
        files: list[tuple[str, str, bytes]] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition") or ""
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if part.get_filename():
                files.append((str(name), part.get_filename() or "", data))
            else:
                args[str(name)] = data.decode("utf-8", "replace")
        return args, files
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}, []


def _bearer(headers: Any) -> str | None:
    value = headers.get("Authorization") or ""
    return value[7:].strip() if value.lower().startswith("bearer ") else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        try:
            reply = self.server.emulator.route(self.command, url.path, url.query, self.headers, body)
        except Exception:
            log.exception("emulator failed on %s %s", self.command, self.path)
            reply = _Reply.json({"ok": False, "error": "fatal_error"}, 500)
        if reply.drop:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a killed process): nothing to answer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line; the emulator records calls instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: SlackEmulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator


@dataclass
class _Bucket:
    per_second: float
    burst: int
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Spend a token; return 0 if there was one, else the seconds until there will be."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


@dataclass(frozen=True)
class _Limit:
    per_second: float
    burst: int
    per_channel: bool


class SlackEmulator(_Workspace):
    """Slack on localhost.

    ``with SlackEmulator() as slack: WebClient(base_url=slack.url, token="xoxb-…")``
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, team_id: str = "T0CMO",
                 team_domain: str = "cmo-test", bot_user_id: str = "U0CMOBOT", bot_id: str = "B0CMOBOT",
                 app_id: str = "A0CMOBOT", require_membership: bool = False, trigger_ttl: float | None = None,
                 on_call: Callable[[Call], None] | None = None, bot_token: str | None = None) -> None:
        super().__init__(team_id=team_id, team_domain=team_domain, bot_user_id=bot_user_id, bot_id=bot_id,
                         app_id=app_id, require_membership=require_membership, trigger_ttl=trigger_ttl)
        self.on_call = on_call
        # The one bot token this workspace issued; others are refused (invalid_auth) as Slack refuses a token
        # from another workspace or a typo. None accepts any bot token.
        self.bot_token = bot_token
        self._changed = threading.Condition(self._lock)
        self._init_traffic()
        self._server = _Server((host, port), self)
        bound_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.base = f"http://{bound_host}:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None
        self.socket_mode = SocketModeHub(bound_host, app_id)
        self.revoked_tokens: set[str] = set()

    def _init_traffic(self) -> None:
        self._calls: list[Call] = []
        self._faults: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self._faults_served: list[dict[str, Any]] = []
        self._limits: dict[str, _Limit] = {}
        self._buckets: dict[tuple[str, str | None], _Bucket] = {}
        self._limited: list[str] = []

    @property
    def url(self) -> str:
        """The Web API base URL to give the bot (``SLACK_API_URL``)."""
        return f"{self.base}/api/"

    def _link(self, path: str) -> str:
        return self.base + path

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        if self._thread is None:
            # A short poll interval keeps stop() fast; tests start and stop an emulator each.
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                            name="slack-emulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self.socket_mode.stop()

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Back to a fresh workspace: no calls, users, channels, files, faults or limits.

        Socket Mode connections stay open (the app on them is not part of the workspace), and
        revoked tokens are valid again.
        """
        with self._lock:
            self._init_state()
            self._init_traffic()
            self.revoked_tokens.clear()
        self.socket_mode.reset()

    # --- recording -------------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for(self, method: str | None, predicate: Callable[[Call], bool] | None = None, timeout: float = 15,
                 count: int = 1) -> list[Call]:
        """Block until `count` calls of `method` (any method: None) matching `predicate` arrived; return all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self._calls
                         if (method is None or c.method == method) and (predicate is None or predicate(c))]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                self._changed.wait(remaining)
            seen = list(self._calls)
        if len(found) >= count:
            return found
        lines = "\n".join(f"  {self.transcript(c)}" for c in seen) or "  (no calls)"
        raise AssertionError(f"expected {count} {method} call(s) matching within {timeout}s, "
                             f"got {len(found)}; calls seen:\n{lines}")

    def _record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        if self.on_call is not None:
            try:
                self.on_call(call)
            except Exception:
                log.exception("on_call callback failed")

    # --- faults and rate limits ------------------------------------------------------------------

    def inject(self, method: str, *faults: dict[str, Any]) -> None:
        """Queue faults for `method` ("*" for any), served one per call in order."""
        for fault in faults:
            unknown = set(fault) - FAULT_KEYS
            if unknown or not fault:
                raise ValueError(f"bad fault {fault}; expected keys among {sorted(FAULT_KEYS)}")
        with self._lock:
            self._faults[method].extend(dict(f) for f in faults)

    def faults_served(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._faults_served)

    def set_rate_limit(self, method: str, per_second: float, burst: int = 1,
                       per_channel: bool = False) -> None:
        """A token bucket for `method` (per channel if asked); beyond it Slack answers 429."""
        if per_second <= 0 or burst < 1:
            raise ValueError("per_second must be > 0 and burst >= 1")
        with self._lock:
            self._limits[method] = _Limit(per_second, burst, per_channel)
            self._buckets = {k: b for k, b in self._buckets.items() if k[0] != method}

    def apply_published_limits(self) -> None:
        """Enforce Slack's documented limits (see `PUBLISHED_TIERS`) for the emulated methods."""
        self.set_rate_limit("chat.postMessage", 1.0, POST_MESSAGE_BURST, per_channel=True)
        for method, tier in PUBLISHED_TIERS.items():
            per_minute = TIER_PER_MINUTE[tier]
            self.set_rate_limit(method, per_minute / 60, per_minute)

    def rate_limited_count(self, method: str | None = None) -> int:
        """How many 429s the rate limiter (not injected faults) has served."""
        with self._lock:
            return sum(1 for m in self._limited if method is None or m == method)

    def _take_fault(self, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """The first queued fault for this call: one with `only` ({arg: value}) serves only calls whose
        arguments match, so a test can fail one person's lookup whatever else the bot asks meanwhile."""
        with self._lock:
            for key in (method, "*"):
                for fault in self._faults[key]:
                    if all(str(args.get(name)) == str(value) for name, value in (fault.get("only") or {}).items()):
                        self._faults[key].remove(fault)
                        self._faults_served.append({"method": method, "fault": fault, "ts": time.time()})
                        return fault
        return None

    def _check_rate(self, method: str, channel: str | None) -> _Reply | None:
        with self._lock:
            limit = self._limits.get(method)
            if limit is None:
                return None
            key = (method, channel if limit.per_channel else None)
            now = time.monotonic()
            full = _Bucket(limit.per_second, limit.burst, float(limit.burst), now)
            bucket = self._buckets.setdefault(key, full)
            wait = bucket.take(now)
            if not wait:
                return None
            self._limited.append(method)
        retry_after = str(max(1, math.ceil(wait)))
        return _Reply.json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": retry_after})

    @staticmethod
    def _fault_reply(fault: dict[str, Any]) -> _Reply | None:
        if fault.get("drop"):
            return _Reply(0, drop=True, record={"ok": False, "error": "connection_dropped"})
        status = fault.get("status")
        if status == 429:
            retry_after = str(fault.get("retry_after", 1))
            return _Reply.json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": retry_after})
        if status:
            error = fault.get("error") or STATUS_ERRORS.get(status, "fatal_error")
            return _Reply.json({"ok": False, "error": error}, int(status))
        if fault.get("error"):
            return _Reply.json({"ok": False, "error": fault["error"]})
        return None

    def _serve(self, method: str, args: dict[str, Any], token: str | None, channel: str | None,
               answer: Callable[[], _Reply]) -> _Reply:
        """The path every recorded request takes: fault, then rate limit, then the real answer."""
        received = time.time()
        fault = self._take_fault(method, args)
        reply = None
        if fault is not None:
            time.sleep(float(fault.get("delay", 0)))
            reply = self._fault_reply(fault)
        reply = reply or self._check_rate(method, channel) or answer()
        self._record(Call(method, args, token, received, reply.record, reply.status, fault))
        return reply

    # --- routing ---------------------------------------------------------------------------------

    def route(self, verb: str, path: str, query: str, headers: Any, body: bytes) -> _Reply:
        content_type = headers.get("Content-Type") or ""
        if path.startswith("/api/"):
            return self._web_api(path.removeprefix("/api/"), query, headers, content_type, body)
        if path.startswith("/respond/") and verb == "POST":
            return self._response_url_post(unquote(path.removeprefix("/respond/")), content_type, body)
        if path.startswith("/upload/v1/") and verb == "POST":
            return self._upload_post(path.removeprefix("/upload/v1/"), content_type, body)
        if path.startswith("/files/") and verb == "GET":
            return self._file_get(path.split("/")[2], _bearer(headers))  # /files/<id>[/download]/<name>
        if path == "/_emulator/signin":
            return _Reply.text("<html><body>Sign in to Slack</body></html>", content_type="text/html")
        if path.startswith("/_emulator/"):
            return self._control(verb, path.removeprefix("/_emulator/"), query, body)
        return _Reply.text("not found", 404)

    def _web_api(self, method: str, query: str, headers: Any, content_type: str, body: bytes) -> _Reply:
        malformed = False
        try:
            body_args, _ = _parse_body(content_type, body)
        except ValueError:
            body_args, malformed = {}, True
        args: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()} | body_args
        token = _bearer(headers) or args.get("token")
        args.pop("token", None)
        for key in JSON_ARGS:
            if key in args:
                args[key] = blockkit.decode_json_arg(args[key])
        channel = args.get("channel") or args.get("channel_id")

        def answer() -> _Reply:
            if malformed:
                return _Reply.json({"ok": False, "error": "invalid_json"})
            refusal = self._token_refusal(method, token)
            if refusal:
                return _Reply.json({"ok": False, "error": refusal})
            if method == "apps.connections.open":
                return _Reply.json({"ok": True, "url": self.socket_mode.open_url()})
            handler = _API.get(method)
            if handler is None:
                return _Reply.json({"ok": False, "error": "unknown_method"})
            try:
                with self._lock:
                    return _Reply.json(handler(self, args))
            except ApiError as refused:
                return _Reply.json(refused.body)

        return self._serve(method, args, token, str(channel) if channel else None, answer)

    def _token_refusal(self, method: str, token: str | None) -> str | None:
        """Slack's answer to a missing, unknown, revoked or wrong kind of token (None: accepted).

        ``apps.connections.open`` takes only an app-level token (``xapp-``); every other method the
        bot calls takes only the bot token (``xoxb-``).
        """
        if not token:
            return "not_authed"
        token = str(token)
        if token in self.revoked_tokens or not token.startswith(("xoxb-", "xapp-")):
            return "invalid_auth"
        wanted = "xapp-" if method == "apps.connections.open" else "xoxb-"
        if not token.startswith(wanted):
            return "not_allowed_token_type"
        return "invalid_auth" if wanted == "xoxb-" and self.bot_token not in (None, token) else None

    def _response_url_post(self, tag: str, content_type: str, body: bytes) -> _Reply:
        """Response URLs answer like Slack's webhooks: 200 "ok", or 400 with the error as text."""
        try:
            payload, _ = _parse_body(content_type or "application/json", body)
            if "payload" in payload and isinstance(payload["payload"], str):
                payload = json.loads(payload["payload"])
        except ValueError:
            payload = {}
        for key in ("blocks", "attachments"):
            if key in payload:
                payload[key] = blockkit.decode_json_arg(payload[key])

        def answer() -> _Reply:
            rejection = self._respond(tag, payload)
            if rejection is not None:
                return _Reply.text(rejection.error, 400, record=rejection.response())
            return _Reply.text("ok")

        return self._serve("response_url", {"tag": tag, **payload}, None, None, answer)

    def _upload_post(self, file_id: str, content_type: str, body: bytes) -> _Reply:
        """The upload URL takes raw bytes or a multipart form, as files.getUploadURLExternal says."""
        content = body
        if content_type.lower().startswith("multipart/form-data"):
            _, files = _parse_body(content_type, body)
            content = files[0][2] if files else b""

        def answer() -> _Reply:
            if not self._receive_upload(file_id, content):
                return _Reply.text("file not found", 404, record={"ok": False, "error": "file_not_found"})
            return _Reply.text(f"OK - {len(content)}")

        return self._serve("file_upload", {"file_id": file_id, "length": len(content)}, None, None, answer)

    def _file_get(self, file_id: str, token: str | None) -> _Reply:
        """Private file URLs need the bot token; without one Slack redirects to its sign-in page."""

        def answer() -> _Reply:
            with self._lock:
                found = self._files.get(file_id)
            if found is None:
                return _Reply.text("file not found", 404, record={"ok": False, "error": "file_not_found"})
            if token is None:
                return _Reply.text("", 302, record={"ok": False, "error": "not_authed"},
                                   headers={"Location": self._link("/_emulator/signin")})
            if not token.startswith("xoxb-"):
                return _Reply.text("forbidden", 403, record={"ok": False, "error": "invalid_auth"})
            if found.redirect_to:
                return _Reply.text("", 302, record={"ok": True, "redirect": found.redirect_to},
                                   headers={"Location": found.redirect_to})
            record = {"ok": True, "bytes": len(found.content)}
            return _Reply(200, found.content, found.mimetype, record=record)

        return self._serve("file_download", {"file": file_id}, token, None, answer)

    # --- control endpoints -----------------------------------------------------------------------

    def _control(self, verb: str, action: str, query: str, body: bytes) -> _Reply:
        """Let another process (a demo, a benchmark) seed, inspect and sabotage this emulator."""
        try:
            data = json.loads(body) if body else {}
            if verb == "GET" and action == "calls":
                method = parse_qs(query).get("method", [None])[0]
                return _Reply.json({"ok": True, "calls": [{**c.to_dict(), "transcript": self.transcript(c)}
                                                          for c in self.calls(method)]})
            if verb != "POST":
                return _Reply.json({"ok": False, "error": "unknown_control"}, 404)
            items = data if isinstance(data, list) else [data]
            if action == "reset":
                self.reset()
            elif action == "users":
                for item in items:
                    self.add_user(**item)
            elif action == "channels":
                for item in items:
                    self.add_channel(**item)
            elif action == "files":
                for item in items:
                    encoded = item.pop("content_base64", None)
                    text = item.pop("content", "")
                    self.add_file(content=base64.b64decode(encoded) if encoded else text.encode(), **item)
            elif action == "faults":
                self.inject(data["method"], *data["faults"])
            elif action == "socket_mode/disconnect":
                self.socket_mode.disconnect(data.get("reason", "refresh_requested"))
            elif action == "socket_mode/drop":
                self.socket_mode.drop(abrupt=bool(data.get("abrupt")))
            elif action == "rate_limits":
                if data.get("published"):
                    self.apply_published_limits()
                else:
                    self.set_rate_limit(**data)
            else:
                return _Reply.json({"ok": False, "error": "unknown_control"}, 404)
            return _Reply.json({"ok": True})
        except (KeyError, TypeError, ValueError) as exc:
            return _Reply.json({"ok": False, "error": f"bad_request: {exc}"}, 400)

    # --- transcript ------------------------------------------------------------------------------

    def _who(self, user_id: Any) -> str:
        user = self._users.get(str(user_id or ""))
        return f"@{user['name']}" if user else f"@{user_id}"

    def _where(self, channel_id: Any) -> str:
        channel_id = str(channel_id or "")
        channel = self._channels.get(channel_id)
        if channel is None:
            return self._who(channel_id) if channel_id[:1] in ("U", "W") else channel_id
        if channel.im_user:
            return f"DM {self._who(channel.im_user)}"
        return f"#{channel.name}"

    @staticmethod
    def _render(head: str, text: Any, blocks: Any) -> str:
        """``head: text`` with Block Kit flattened, and the message's controls on a second line."""
        flat, controls = blockkit.flatten(blocks if isinstance(blocks, list) else None)
        body = (flat or str(text or "")).replace("\n", " ⏎ ")
        body = body if len(body) <= 200 else body[:199] + "…"
        return (f"{head}: {body}" if body else head) + (f"\n    {controls}" if controls else "")

    def transcript(self, call: Call) -> str:
        """One or two readable lines for a call, e.g. ``#acme-001 ← bot: Approve? / [Yes] [No]``."""
        with self._lock:
            line = self._describe(call)
        if call.status != 200 or not call.response.get("ok", True):
            status = f"{call.status} " if call.status != 200 else ""
            line += f"  ✗ {status}{call.response.get('error', '')}".rstrip()
        return line

    def _describe(self, call: Call) -> str:
        a, method = call.args, call.method
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            where = self._where(call.response.get("channel") or a.get("channel"))
            who = f"bot (only {self._who(a.get('user'))})" if method == "chat.postEphemeral" else "bot"
            arrow = "✎" if method == "chat.update" else "←"
            thread = " ↳" if a.get("thread_ts") else ""
            return self._render(f"{where}{thread} {arrow} {who}", a.get("text"), a.get("blocks"))
        if method == "chat.delete":
            return f"{self._where(a.get('channel'))} ✗ bot deleted {a.get('ts')}"
        if method == "response_url":
            mode = next((k for k in ("delete_original", "replace_original") if _truthy(a.get(k))),
                        a.get("response_type", "ephemeral"))
            head = f"response_url[{a.get('tag')}] ({mode}) ← bot"
            return self._render(head, a.get("text"), a.get("blocks"))
        if method.startswith("views."):
            view = given if isinstance(given := a.get("view"), dict) else {}
            trigger = self._triggers.get(str(a.get("trigger_id")))
            user = a.get("user_id") or (trigger.user if trigger else None)
            title = (view.get("title") or {}).get("text")
            head = f"{method} {view.get('type', 'view')}" + (f' "{title}"' if title else "")
            return self._render(head + (f" → {self._who(user)}" if user else ""), "", view.get("blocks"))
        if method == "conversations.create":
            return f"conversations.create #{a.get('name')}"
        if method == "conversations.invite":
            users = ", ".join(self._who(u) for u in _split(a.get("users")))
            return f"conversations.invite {self._where(a.get('channel'))} ← {users}"
        if method == "files.completeUploadExternal":
            files = [f for f in a.get("files") or [] if isinstance(f, dict)]
            titles = ", ".join(str(f.get("title") or f.get("id")) for f in files)
            where = self._where(a.get("channel_id") or a.get("channels"))
            return f"{where} ← bot uploaded {titles}: {a.get('initial_comment') or ''}".rstrip(": ")
        if method == "reactions.add":
            return f"{self._where(a.get('channel'))} :{a.get('name')}: on {a.get('timestamp')}"
        details = ", ".join(f"{k}={str(v)[:60]}" for k, v in a.items())
        return f"{method} {details}".rstrip()
