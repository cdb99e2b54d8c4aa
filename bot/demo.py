"""`cmo-bot demo`: the real app, a sample portfolio, the local Slack emulator, the conversation printed.

Nothing to configure: a throwaway SQLite database, the emulator on a free local port, the bot's HTTP
server on another, and signed requests shaped exactly like Slack's. The bot's clock is pinned to a file so
the demo can jump to the mornings when reminders go out.

The bot answers from several threads after it acks, so what reaches the emulator is collected per step
and printed, in the order Slack received it, once the step has settled: one whole message at a time.
"""

from __future__ import annotations

import re
import secrets
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pyotp
from rich.console import Console
from rich.text import Text

from bot.app import create_app
from bot.demo_view import Narrator
from bot.emulator.client import SlackSender, SocketModeSender
from bot.emulator.server import Call, SlackEmulator
from bot.server import make_server, run_until_closed
from bot.settings import load_settings
from bot.socket_mode import connect
from scheduler.jobs import run_pass
from store import signing
from store.migrate import upgrade

# id: (handle, real name, their company when outside ours) — Alice and Bob are customers' people in Slack
# Connect channels.
PEOPLE = {
    "U0ADA": ("ada", "Ada Admin", None),
    "U0PAT": ("pat", "Pat Manager", None),
    "U0QUI": ("quinn", "Quinn Quality", None),
    "U0ALI": ("alice", "Alice Approver", "Acme"),
    "U0BOB": ("bob", "Bob Buyer", "Beta"),
    "U0SAM": ("sam", "Sam Stability", None),
}
SECRET_FIELDS = {"code"}  # what a form's values show as •••••• (authenticator codes change with every run)
START = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)  # Monday 08:00 in New York
# The sample portfolio (`cmo-bot demo` and `cmo-bot try`): two programs' forms, then ACME-001's agreements.
PROGRAMS: tuple[dict[str, object], ...] = (
    {"code": "ACME-001", "customer": "Acme Pharma", "products": "Acmezol 10 mg tablets",
     "timezone": "America/New_York", "cadence": "weekly", "holidays": "US",
     "program_manager": ["U0PAT"], "cmo_quality": ["U0QUI"], "customer_approver": ["U0ALI"],
     "stability": ["U0SAM"]},
    {"code": "BETA-002", "customer": "Beta Nutraceuticals", "products": "Omega-3 softgels",
     "timezone": "Europe/Berlin", "cadence": "weekly", "holidays": "DE-BY",
     "program_manager": ["U0PAT"], "customer_approver": ["U0BOB"]},
)
AGREEMENTS: tuple[dict[str, object], ...] = (
    {"kind": "quality", "counterparty": "Acme Pharma", "status": "executed", "version": "QA v3",
     "effective": date(2025, 1, 15), "expires": date(2027, 1, 31), "notice": "30"},
    {"kind": "nda", "counterparty": "Acme Pharma", "status": "executed", "version": "MNDA 2024",
     "effective": date(2024, 3, 1), "expires": date(2029, 2, 28)},
)


def person(user_id: str) -> str:
    """`@Alice Approver (Acme)`: the name people see, and the company of those outside ours."""
    known = PEOPLE.get(user_id)
    if known is None:
        return f"@{user_id}"
    return f"@{known[1]}" + (f" ({known[2]})" if known[2] else "")


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Rich exits with status 1 here; the demo lets `bot.cli.main` answer as a shell would (141)."""
        raise BrokenPipeError


class Writer(Protocol):
    """Where the demo's text goes: `Output` prints it; the try page has its own view and drops it."""

    def __call__(self, text: str | Text, heading: bool = False) -> None: ...


class Output:
    """Prints the demo's text on the main thread, styled when stdout is a terminal and plain otherwise;
    long lines are left whole for the terminal to wrap (tables stay tables). When the reader goes away
    (`cmo-bot demo | head`) the next line raises BrokenPipeError, so that the demo stops, cleans up and
    exits quietly (`bot.cli.main`). `quiet` keeps the section headings only."""

    def __init__(self, quiet: bool = False) -> None:
        self.console = _Console(file=sys.stdout, soft_wrap=True, highlight=False, emoji=False)
        self.quiet = quiet

    def __call__(self, text: str | Text, heading: bool = False) -> None:
        if self.quiet and not heading:
            return
        self.console.print(text)
        self.console.file.flush()


class Demo:
    """The app, the emulator and a sender; `transport` is how Slack reaches the app ("http" or "socket")."""

    def __init__(self, workdir: Path, out: Writer, transport: str = "http"):
        self.out = out
        self.trigger: str | None = None  # of the last command or click: the form it opens is the one submitted
        self.clock_file = workdir / "now.txt"
        self.heard: list[Call] = []  # what reached Slack since the last step was printed
        self.heard_lock = threading.Lock()
        self.actor, self.where = "", ""  # who typed or clicked last, and where
        self.set_time(START)
        self.slack = SlackEmulator(on_call=self._hear).start()
        self.narrator = Narrator(person, self._place)
        for user_id, (name, real_name, company) in PEOPLE.items():
            self.slack.add_user(user_id, name, real_name=real_name, tz="America/New_York",
                                external=company is not None)
        secret = secrets.token_hex(16)
        self.settings = load_settings(
            slack_bot_token="xoxb-demo-token", slack_signing_secret=secret, slack_api_url=self.slack.url,
            database_url=f"sqlite:///{workdir / 'demo.db'}", cmo_files_url=str(workdir / "files"),
            cmo_admins="U0ADA", cmo_timezone="America/New_York", cmo_now=f"@{self.clock_file}",
            cmo_alerts_channel=None, slack_app_token="xapp-1-demo-token",
            cmo_secret_key=signing.new_key(),  # the demo's own, thrown away with it
        )
        upgrade(self.settings.database_url)
        self.app = create_app(self.settings)
        self.server = self.socket = None
        if transport == "socket":  # the path of `cmo-bot socket`: the app opens a WebSocket to the emulator
            self.socket = connect(self.app, self.settings.required("slack_app_token"))
            self.send: SlackSender = SocketModeSender(self.slack)
        else:  # the path of `cmo-bot serve`: signed requests to the app's HTTP endpoint
            self.server = make_server(self.app, self.app.deps.engine, "127.0.0.1", 0, signing_secret=secret,
                                      threads=4)
            threading.Thread(target=run_until_closed, args=(self.server,), daemon=True, name="bot-http").start()
            self.send = SlackSender(f"http://127.0.0.1:{self.server.effective_port}/slack/events", secret,
                                    self.slack)

    def _hear(self, call: Call) -> None:
        """The emulator's hook, on whichever thread made the call: only collect."""
        with self.heard_lock:
            self.heard.append(call)

    def show(self) -> None:
        """Print what the last step sent to Slack, once it has gone quiet, in the order Slack received it."""
        while True:
            with self.heard_lock:
                seen = len(self.heard)
            time.sleep(0.3)  # waiting for the bot's own threads to finish answering
            with self.heard_lock:
                if len(self.heard) == seen:
                    heard, self.heard = self.heard, []
                    break
        order = {id(call): n for n, call in enumerate(self.slack.calls())}
        for call in sorted(heard, key=lambda c: order.get(id(c), len(order))):
            shown = self.narrator.call(call, self.actor, self.where)
            if shown is not None:
                self.out(shown)

    def heading(self, text: str) -> None:
        self.show()
        self.out(Text(f"\n━━ {text}", style="bold"), heading=True)

    def set_time(self, when: datetime) -> None:
        staged = self.clock_file.with_suffix(".tmp")  # write-then-rename: the bot never reads half an instant
        staged.write_text(when.isoformat())
        staged.replace(self.clock_file)

    def say(self, text: str, why: str = "") -> None:
        """A step: what happened before it, then what a person does now (and why, in one line)."""
        self.show()
        step = Text()
        step.append(f"\n▸ {text}", style="bold green")
        if why:
            step.append(f"\n  {why}", style="italic")
        self.out(step)

    def act(self, user: str, channel: str) -> None:
        self.actor, self.where = person(user), self._place(channel)

    def command(self, user: str, text: str, channel: str = "C0GENERAL", why: str = "") -> None:
        self.say(f"{person(user)} types in {self._place(channel)}:  /cmo {text}", why)
        self.act(user, channel)
        sent = self.send.command(text, user, channel)
        self.trigger = sent.trigger_id
        self.slack.wait_for(None, lambda c: (c.method == "response_url" and c.args.get("tag") == sent.response_url_tag)
                            or (c.method == "views.open" and c.args.get("trigger_id") == sent.trigger_id), timeout=10)

    def submit(self, user: str, values: dict, why: str = "") -> None:
        """Submit the form the last command or click opened, once the bot has opened it."""
        # the form that command or click opened (a form is acted on once: never submit the one before again)
        self.slack.wait_for("views.open", lambda c: c.args.get("trigger_id") == self.trigger, timeout=10)
        title = ((self.slack.last_view(user) or {}).get("title") or {}).get("text", "the form")
        filled = "\n".join(f"    {key.replace('_', ' ')}: {self._value(key, value)}" for key, value in values.items())
        self.say(f"{person(user)} fills in “{title}” and submits it:\n{filled}", why)
        self.send.submit_last_view(user, values)

    def click(self, user: str, action_id: str, channel: str, label: str, why: str = "") -> None:
        self.say(f"{person(user)} clicks [{label}] in {self._place(channel)}", why)
        self.act(user, channel)
        self.trigger = self.send.block_action(user, action_id, channel_id=channel).trigger_id

    @staticmethod
    def _value(key: str, value: object) -> str:
        if key in SECRET_FIELDS and str(value).isdigit():
            return "•••••• (the code their authenticator app shows)"
        if isinstance(value, list):
            return ", ".join(person(v) if v in PEOPLE else str(v) for v in value)
        return str(value)

    def enroll(self, user: str, now: datetime) -> str:
        """The person sets up an authenticator app: the demo reads the secret from the form, as the app would
        from its QR code, and answers with the app's current code. Returns the secret."""
        self.command(user, "signing enroll", why="Approvals are signed with a one-time code; first, "
                     "she connects an authenticator app (the form shows a QR code and its secret).")
        self.slack.wait_for("views.update", lambda c: c.args["view"]["callback_id"] == "signing_enroll", timeout=10)
        shown = str(self.slack.open_view(user)["blocks"])
        found = re.search(r"Secret:\* `([A-Z2-7 ]+)`", shown)
        if found is None:
            raise LookupError("the enrolment form shows no secret")
        secret = found.group(1).replace(" ", "")
        self.submit(user, {"code": pyotp.TOTP(secret).at(now)})
        return secret

    def dm_channel(self, user: str) -> str:
        """The DM the bot last wrote `user` in (waiting for it: DMs go out after the ack)."""
        posted = self.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == user
                                     and bool(c.response.get("ok")), timeout=10)
        return posted[-1].response["channel"]

    def tick(self, when: datetime, what: str, why: str) -> None:
        self.set_time(when)
        self.say(f"The clock moves to {when:%a %d %b %Y %H:%M} UTC ({what}); the scheduler runs", why)
        report = run_pass(self.app.deps.engine, self.app.client, when)
        self.show()
        sent = sum(o.result == "sent" for o in report.outcomes)
        self.out(Text(f"    ({report.inserted} reminders queued, {sent} sent)", style="dim"))

    def _place(self, channel: str) -> str:
        found = self.slack.channel(channel) or {}
        if found.get("is_im"):
            return f"DM with {person(found['user'])}"
        if found.get("name"):
            return f"#{found['name']}"
        return f"DM with {person(channel)}" if channel in PEOPLE else channel

    def channel_of(self, code: str) -> str:
        """The channel the bot created for program `code` (waiting for it: it is created after the ack)."""
        created = self.slack.wait_for("conversations.create", lambda c: c.args.get("name") == code.lower()
                                      and bool(c.response.get("ok")), timeout=10)
        return created[-1].response["channel"]["id"]

    def stop(self) -> None:
        if self.server:
            self.server.close()
        if self.socket:
            self.socket.close()
        self.slack.stop()


def scenario(demo: Demo) -> None:
    demo.slack.add_channel("C0GENERAL", "general", members=list(PEOPLE))
    demo.out(Text("cmo-bot demo: the real app against the local Slack emulator (nothing leaves this machine).",
                  style="bold"), heading=True)
    demo.heading("Programs: one channel per customer program, people by role")
    for values, why in zip(PROGRAMS, (
            "Ada, the bot's admin, sets up the first customer program; the bot creates its channel and invites "
            "everyone with a role, the customer's people too.",
            "A second customer, in Bavaria, with its own time zone and holidays."), strict=True):
        demo.command("U0ADA", "program new")
        demo.submit("U0ADA", values, why=why)
    acme, beta = demo.channel_of("ACME-001"), demo.channel_of("BETA-002")
    demo.command("U0PAT", "program list", why="Pat manages both programs and sees both.")
    demo.command("U0BOB", "program status --program ACME-001",
                 why="Bob works for Beta: Acme's program is not his to see, and the bot does not say it exists.")

    demo.heading("Agreements: the executed quality agreement and NDA of ACME-001, one expiring soon")
    for values, why in zip(AGREEMENTS, (
            "The quality agreement runs out on 31 January 2027, within the 90 days the bot warns about.", ""),
            strict=True):
        demo.command("U0PAT", "agreement new", channel=acme)
        demo.submit("U0PAT", values, why=why)
    demo.command("U0PAT", "agreement list", channel=acme, why="The register shows which agreement expires soon.")

    demo.heading("Batch record review: ready → the CMO's signed QA release → the customer's signed approval, "
                 "messages updated in place")
    demo.command("U0PAT", "batch ready B-1042 --product 'Acmezol 10 mg' --release-by 2026-11-13", channel=acme,
                 why="The batch record is ready: the bot posts it in the channel and asks the CMO's quality unit "
                     "to release it first.")
    quality = demo.enroll("U0QUI", START)
    secret = demo.enroll("U0ALI", START)
    demo.set_time(START + timedelta(minutes=1))  # a minute later: the app shows a new code
    demo.click("U0QUI", "batch_qa_release", demo.dm_channel("U0QUI"), "QA release",
               why="Quinn, CMO quality, reviews the executed record and releases it for the customer.")
    demo.submit("U0QUI", {"code": pyotp.TOTP(quality).at(START + timedelta(minutes=1))},
                why="The release is a signature too: Quinn's authenticator code.")
    demo.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "U0ALI"
                        and "B-1042" in c.args.get("text", ""), timeout=10)  # asked once released
    demo.click("U0ALI", "batch_approve", demo.dm_channel("U0ALI"), "Approve",
               why="Alice approves from the DM the bot sent her once the CMO released it.")
    demo.submit("U0ALI", {"code": pyotp.TOTP(secret).at(START + timedelta(minutes=1)),
                          "comment": "Reviewed with deviation DEV-77 closed."},
                why="Signing: her authenticator code and a comment. The DM and the channel post are then updated "
                "in place, not answered with new messages.")
    demo.heading("The same in BETA-002, which has no executed quality agreement: the gate speaks up")
    demo.command("U0PAT", "batch settings --qa-release off", channel=beta,
                 why="Beta's batches go to the customer without the CMO's separate QA release step.")
    demo.command("U0PAT", "batch ready B-7 --product 'Omega-3 softgels'", channel=beta)

    demo.heading("Stability: a study placed at 31 August; pulls are counted from placement, month ends clamp")
    demo.command("U0SAM", "stability new", channel=acme)
    demo.submit("U0SAM", {"product": "Acmezol 10 mg tablets", "lots": "L-2201, L-2202", "protocol": "SP-014",
                          "conditions": ["LT25", "ACC40"], "duration": "24", "placed": "2026-08-31"},
                why="Placed on 31 August: the 3-month pull falls on 30 November, since November has no 31st.")
    demo.command("U0SAM", "stability schedule STB-0001", channel=acme, why="The whole pull schedule, as a table.")

    demo.heading("Regulatory submission: a 510(k) checklist from its template, owners asked by DM")
    demo.command("U0PAT", "submission new", channel=acme)
    demo.submit("U0PAT", {"kind": "fda_510k", "title": "Acme catheter 510(k)", "filing_date": "2027-01-15",
                          "contact": "Jo Regulatory, Acme"})

    demo.heading("Time passes: the scheduler sends what is due, once, at 09:00 in each program's time zone")
    demo.tick(datetime(2026, 11, 2, 14, 5, tzinfo=UTC), "Monday 09:05 in New York",
              "Today's reminders go out: the pull window that opens today, the expiring agreement.")
    demo.tick(datetime(2026, 11, 23, 14, 5, tzinfo=UTC), "three weeks later, 09:05 in New York",
              "The demo jumps three weeks at once, as if the bot had been off: what fell due in between is "
              "sent now, once, and says it is late.")
    answered = len(demo.slack.calls("response_url"))
    demo.command("U0PAT", "status", channel=acme, why="The program's weekly status, on demand.")
    demo.slack.wait_for("response_url", count=answered + 1, timeout=30)  # the last answer, before Slack goes away
    demo.show()


def run(transport: str = "http", quiet: bool = False) -> int:
    out = Output(quiet)
    with tempfile.TemporaryDirectory(prefix="cmo-bot-demo-") as workdir:
        demo = Demo(Path(workdir), out, transport=transport)
        try:
            scenario(demo)
        finally:
            demo.stop()
    out(Text("\nThat was the bot end to end. `cmo-bot --help` lists the commands; docs/operations.md connects "
             "a real workspace.", style="bold"), heading=True)
    return 0
