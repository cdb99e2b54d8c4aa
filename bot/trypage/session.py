"""What the try page shows and does: the emulator's workspace as one person sees it, and their clicks sent on.

The page never talks to the bot itself. Every command, click and submission goes through the emulator's sender
(`bot/emulator/client.py`), signed or as a Socket Mode envelope, exactly as Slack would send it; what the page
shows is read back from the emulator (messages, views, files) and from the calls the bot made to it
(ephemeral answers). Only what Slack keeps in its own client is kept here: which modals a person has open
(Slack closes a modal when the app acknowledges its submission without a new view) and the demo's clock.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp

from bot.demo import AGREEMENTS, PEOPLE, PROGRAMS, START, Demo
from scheduler.jobs import run_pass

GUEST = ("U0GUS", "gus", "Gus Guest")  # a Slack Connect guest who holds no role
# The person picker, in this order: who each sample person is in the sample portfolio.
ROLES = {"U0ADA": "admin", "U0PAT": "program manager", "U0QUI": "CMO quality",
         "U0ALI": "Acme's approver", "U0BOB": "Beta's approver", "U0SAM": "stability", GUEST[0]: "external guest"}
SECRET_SHOWN = re.compile(r"Secret:\* `([A-Z2-7 ]+)`")
ENROLL_VIEW = "signing_enroll"


class Refused(ValueError):
    """A request the page cannot carry out (an unknown person, a view that is no longer open): one line."""


def _dropped(text: object, heading: bool = False) -> None:
    """The demo's narration: the page shows the conversation itself."""


class TrySession:
    """The demo's app, emulator and sender, plus what a Slack client keeps for each person."""

    def __init__(self, workdir: Path, transport: str = "http") -> None:
        self.demo = Demo(workdir, out=_dropped, transport=transport)
        self.slack, self.send = self.demo.slack, self.demo.send
        self.slack.add_user(GUEST[0], GUEST[1], real_name=GUEST[2], tz="Europe/London", external=True)
        self._lock = threading.RLock()
        self._closed: set[str] = set()  # modal ids the person closed or Slack closed after a submission
        self._views: dict[str, dict[str, Any]] = {}  # every modal seen, by id (to show a pushed view's parent)
        self._answers: dict[str | None, tuple[str, str]] = {}  # response URL tag → (person, channel)
        self._uploads = itertools.count(1)
        self.authenticators: dict[str, str] = {}  # person → TOTP secret: the sample person's phone
        self._clock_base, self._clock_started = START, time.monotonic()
        self._clock_stop = threading.Event()
        self._clock = threading.Thread(target=self._run_clock, daemon=True)
        self._clock.start()

    # --- the clock: it runs from the sample Monday morning; time travel moves it on -------------------

    def now(self) -> datetime:
        with self._lock:
            return self._clock_base + timedelta(seconds=time.monotonic() - self._clock_started)

    def _run_clock(self) -> None:
        """Keep the bot's clock file (CMO_NOW=@file) moving with real time, so authenticator codes change."""
        while not self._clock_stop.wait(1.0):
            self.demo.set_time(self.now())

    def travel(self, hours: float) -> dict[str, Any]:
        """Move the clock on and run one scheduler pass as of then, as `cmo-bot tick --now` does."""
        if not 0 < hours <= 24 * 366:
            raise Refused("the clock moves forward, by at most a year")
        with self._lock:
            self._clock_base += timedelta(hours=hours)
            when = self.now()
            self.demo.set_time(when)
        report = run_pass(self.demo.app.deps.engine, self.demo.app.client, when)
        sent = sum(o.result == "sent" for o in report.outcomes)
        return {"now": when.isoformat(), "queued": report.inserted, "sent": sent}

    # --- the sample portfolio ------------------------------------------------------------------------

    def load_portfolio(self) -> None:
        """The demo's programs and agreements, and an authenticator set up for Acme's approver."""
        self.slack.add_channel("C0GENERAL", "general", members=[*PEOPLE, GUEST[0]])
        for values in PROGRAMS:
            self.demo.command("U0ADA", "program new")
            self.demo.submit("U0ADA", values)
        acme = self.demo.channel_of("ACME-001")
        for values in AGREEMENTS:
            self.demo.command("U0PAT", "agreement new", channel=acme)
            self.demo.submit("U0PAT", values)
        # the page's first walk-through goes straight from "ready" to the customer's approval; the CMO's QA
        # release step (on by default for new programs) is shown by `cmo-bot demo`
        self.demo.command("U0PAT", "batch settings --qa-release off", channel=acme)
        self.authenticators["U0ALI"] = self.demo.enroll("U0ALI", self.now())
        with self._lock:  # the forms of the set-up were submitted: none is open for anyone
            self._closed.update(v["id"] for v in (self.slack.last_view(p) for p in PEOPLE) if v)

    # --- what a person sees --------------------------------------------------------------------------

    def person(self, user: str) -> str:
        if user not in ROLES:
            raise Refused("pick one of the sample people")
        return user

    def people(self) -> list[dict[str, Any]]:
        return [{"id": user, "name": self.slack.member(user)["real_name"], "role": role}
                for user, role in ROLES.items()]

    def names(self) -> dict[str, str]:
        """User ids to names, for mentions and user pickers (Slack shows names, never ids)."""
        named = {user: self.slack.member(user)["real_name"] for user in ROLES}
        named[self.slack.bot_user_id] = "cmo-bot"
        return named

    def conversations(self, user: str) -> list[dict[str, Any]]:
        return [{"id": c["id"], "name": "cmo-bot" if c.get("is_im") else c["name"], "is_im": bool(c.get("is_im")),
                 "external": bool(c.get("is_ext_shared"))} for c in self.slack.conversations_of(user)]

    def channel_names(self) -> dict[str, str]:
        return {c["id"]: c["name"] for user in ROLES for c in self.conversations(user) if not c["is_im"]}

    def messages(self, user: str, channel: str) -> list[dict[str, Any]]:
        """The conversation's messages, with the answers only `user` sees (ephemeral) in their place."""
        if channel not in {c["id"] for c in self.conversations(user)}:
            raise Refused("that conversation is not one of yours")
        shown = [{**m, "files": [self._file(f) for f in m.get("files", [])]}
                 for m in self.slack.messages(channel, include_user_messages=True)]
        shown += self._ephemerals(user, channel)
        return sorted(shown, key=lambda m: float(m.get("ts") or 0))

    @staticmethod
    def _file(found: dict[str, Any]) -> dict[str, Any]:
        return {"id": found["id"], "name": found["name"], "url": f"/files/{found['id']}"}

    def _ephemerals(self, user: str, channel: str) -> list[dict[str, Any]]:
        mine: list[dict[str, Any]] = []
        for call in self.slack.calls("chat.postEphemeral"):
            if call.args.get("user") == user and call.args.get("channel") == channel and call.response.get("ok"):
                mine.append(self._ephemeral(call.args, call.response.get("message_ts"), call.ts_received))
        for call in self.slack.calls("response_url"):
            args = call.args
            keeps = args.get("response_type") != "in_channel" and not args.get("replace_original") \
                and not args.get("delete_original")
            if keeps and call.status == 200 and self._answers.get(args.get("tag")) == (user, channel):
                mine.append(self._ephemeral(args, None, call.ts_received))
        return mine

    @staticmethod
    def _ephemeral(args: dict[str, Any], ts: str | None, received: float) -> dict[str, Any]:
        blocks = args.get("blocks") if isinstance(args.get("blocks"), list) else []
        return {"ts": ts or f"{received:.6f}", "text": args.get("text") or "", "blocks": blocks,
                "user": "bot", "ephemeral": True}

    def modal(self, user: str) -> dict[str, Any] | None:
        """The modal on top of the person's stack, or None once it was closed."""
        with self._lock:
            view = self.slack.last_view(user)
            if view:
                self._views[view["id"]] = view
                self._learn_authenticator(user, view)
            while view and view["id"] in self._closed:
                view = self._views.get(view.get("previous_view_id") or "")
            return view

    def _learn_authenticator(self, user: str, view: dict[str, Any]) -> None:
        """The enrollment form shows the secret once: the sample person's phone keeps it, as an app would."""
        if view.get("callback_id") == ENROLL_VIEW:
            found = SECRET_SHOWN.search(str(view.get("blocks")))
            if found:
                self.authenticators[user] = found.group(1).replace(" ", "")

    def authenticator_code(self, user: str) -> str | None:
        secret = self.authenticators.get(user)
        return pyotp.TOTP(secret).at(self.now()) if secret else None

    def home(self, user: str) -> dict[str, Any] | None:
        return self.slack.home_view(user)

    # --- what a person does --------------------------------------------------------------------------

    def command(self, user: str, channel: str, text: str) -> None:
        text = text.strip()
        if not text.startswith("/cmo"):
            raise Refused("type a command: /cmo help")
        sent = self.send.command(text.removeprefix("/cmo").strip(), user, channel)
        with self._lock:
            self._answers[sent.response_url_tag] = (user, channel)

    def open_home(self, user: str) -> None:
        """The person opens the app's Home tab: Slack sends app_home_opened."""
        dm = next(c["id"] for c in self.conversations(user) if c["is_im"])
        self.send.event({"type": "app_home_opened", "user": user, "channel": dm, "tab": "home",
                         "event_ts": f"{time.time():.6f}"})

    def click(self, user: str, action_id: str, *, channel: str | None = None, ts: str | None = None,
              view_id: str | None = None, value: Any = None) -> None:
        """A click or a selection on a message (`channel`, `ts`) or a view (`view_id`: modal or Home)."""
        if view_id:
            view = self._open_view(user, view_id)
            self.send.block_action(user, action_id, view=view, value=value)
            return
        message = next((m for m in self.messages(user, channel or "") if m.get("ts") == ts), None)
        if message is None:
            raise Refused("that message is gone")
        message = {**message, "channel": channel}
        sent = self.send.block_action(user, action_id, channel_id=channel, message=message, value=value)
        with self._lock:
            self._answers[sent.response_url_tag] = (user, channel or "")

    def _open_view(self, user: str, view_id: str) -> dict[str, Any]:
        for view in (self.modal(user), self.home(user)):
            if view and view["id"] == view_id:
                return view
        raise Refused("that form is no longer open")

    def submit(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, str]:
        """Press Submit: returns the field errors the app answered ({block_id: message}), else closes the form."""
        view = self._open_view(user, view_id)
        answer = self.send.view_submission(user, view, values)
        body = answer.json() if answer.status_code == 200 and answer.text.strip().startswith("{") else {}
        action = body.get("response_action")
        if action == "errors":
            return dict(body.get("errors") or {})
        with self._lock:
            if action == "clear":
                self._closed.update(v for v, seen in self._views.items()
                                    if seen.get("root_view_id") == view["root_view_id"])
            elif action not in ("update", "push"):
                self._closed.add(view_id)
        if answer.status_code != 200:
            raise Refused("the app did not answer in time (Slack would say so in the form)")
        return {}

    def close(self, user: str, view_id: str) -> None:
        view = self._open_view(user, view_id)
        with self._lock:
            self._closed.add(view_id)
        if view.get("notify_on_close"):
            self.send.view_closed(user, view)

    def upload(self, user: str, name: str, content: bytes) -> dict[str, Any]:
        """A file the person picked in a file input: Slack holds it and the form names its id."""
        file_id = f"F0TRY{next(self._uploads):06d}"
        safe = Path(name or "upload").name[:200] or "upload"
        return self.slack.add_file(file_id, safe, content, user=user)

    def stop(self) -> None:
        self._clock_stop.set()
        self.demo.stop()
