"""`cmo-bot demo`: the real app, a sample portfolio, the local Slack emulator, the traffic printed.

Nothing to configure: a throwaway SQLite database, the emulator on a free local port, the bot's HTTP
server on another, and signed requests shaped exactly like Slack's. The bot's clock is pinned to a file so
the demo can jump to the mornings when reminders go out.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyotp

from bot.app import create_app
from bot.emulator.client import SlackSender, SocketModeSender
from bot.emulator.server import Call, SlackEmulator
from bot.server import make_server
from bot.settings import load_settings
from bot.socket_mode import connect
from scheduler.jobs import run_pass
from store import signing
from store.migrate import upgrade

QUIET = {"apps.connections.open", "users.info", "conversations.open", "auth.test", "conversations.join", "files.info",
         "conversations.history", "files.getUploadURLExternal"}
# id: (handle, real name, outside the company?) — Alice and Bob are customers' people in Slack Connect channels.
PEOPLE = {
    "U0ADA": ("ada", "Ada Admin", False),
    "U0PAT": ("pat", "Pat Manager", False),
    "U0QUI": ("quinn", "Quinn Quality", False),
    "U0ALI": ("alice", "Alice Approver", True),
    "U0BOB": ("bob", "Bob Buyer", True),
    "U0SAM": ("sam", "Sam Stability", False),
}
START = datetime(2026, 11, 2, 13, 0, tzinfo=UTC)  # Monday 08:00 in New York


class Output:
    """Prints the demo's lines, from the main thread and from the emulator's. When the reader goes away
    (`cmo-bot demo | head`), the other threads fall silent and the main thread's next line raises
    BrokenPipeError, so that the demo stops, cleans up and exits quietly (`bot.cli.main`)."""

    def __init__(self) -> None:
        self.gone = False

    def __call__(self, text: str) -> None:
        main = threading.current_thread() is threading.main_thread()
        if self.gone:
            if main:
                raise BrokenPipeError
            return
        try:
            print(text, flush=True)
        except BrokenPipeError:
            self.gone = True
            if main:
                raise


class Demo:
    """The app, the emulator and a sender; `transport` is how Slack reaches the app ("http" or "socket")."""

    def __init__(self, workdir: Path, out: Callable[[str], None] = print, transport: str = "http"):
        self.out = out
        self.clock_file = workdir / "now.txt"
        self.forms_before = 0  # views.open calls seen before the last command or click
        self.set_time(START)
        self.slack = SlackEmulator(on_call=self._show).start()
        for user_id, (name, real_name, external) in PEOPLE.items():
            self.slack.add_user(user_id, name, real_name=real_name, tz="America/New_York", external=external)
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
            self.socket = connect(self.app, self.settings.slack_app_token)
            self.send: SlackSender = SocketModeSender(self.slack)
        else:  # the path of `cmo-bot serve`: signed requests to the app's HTTP endpoint
            self.server = make_server(self.app, self.app.deps.engine, "127.0.0.1", 0, signing_secret=secret,
                                      threads=4)
            threading.Thread(target=self.server.run, daemon=True).start()
            self.send = SlackSender(f"http://127.0.0.1:{self.server.effective_port}/slack/events", secret,
                                    self.slack)

    def _show(self, call: Call) -> None:
        if call.method not in QUIET:
            self.out("    " + self.slack.transcript(call).replace("\n", "\n    "))

    def set_time(self, when: datetime) -> None:
        staged = self.clock_file.with_suffix(".tmp")  # write-then-rename: the bot never reads half an instant
        staged.write_text(when.isoformat())
        staged.replace(self.clock_file)

    def say(self, text: str) -> None:
        self.out(f"\n── {text}")

    def settle(self, method: str | None = None, count: int = 1) -> None:
        """Wait for the bot's after-ack work (it runs in the bot's own threads) to reach Slack."""
        before = len(self.slack.calls(method)) if method else 0
        if method:
            self.slack.wait_for(method, count=before + count, timeout=10)
        time.sleep(0.3)

    def command(self, user: str, text: str, channel: str = "C0GENERAL") -> None:
        self.say(f"{PEOPLE[user][0]} types in {self._channel_name(channel)}: /cmo {text}")
        self.forms_before = len(self.slack.calls("views.open"))
        sent = self.send.command(text, user, channel)
        self.slack.wait_for(None, lambda c: (c.method == "response_url" and c.args.get("tag") == sent.response_url_tag)
                            or (c.method == "views.open" and c.args.get("trigger_id") == sent.trigger_id), timeout=10)
        self.settle()

    def submit(self, user: str, values: dict) -> None:
        """Submit the form the last command or click opened, once the bot has opened it."""
        self.say(f"{PEOPLE[user][0]} fills in the form and submits it")
        self.slack.wait_for("views.open", count=self.forms_before + 1, timeout=10)
        self.send.submit_last_view(user, values)
        self.settle()

    def click(self, user: str, action_id: str, channel: str) -> None:
        self.say(f"{PEOPLE[user][0]} clicks a button in {self._channel_name(channel)}")
        self.forms_before = len(self.slack.calls("views.open"))
        self.send.block_action(user, action_id, channel_id=channel)
        self.settle()

    def enroll(self, user: str, now: datetime) -> str:
        """The person sets up an authenticator app: the demo reads the secret from the form, as the app would
        from its QR code, and answers with the app's current code. Returns the secret."""
        self.command(user, "signing enroll")
        self.slack.wait_for("views.update", lambda c: c.args["view"]["callback_id"] == "signing_enroll", timeout=10)
        shown = str(self.slack.last_view(user)["blocks"])
        secret = re.search(r"Secret:\* `([A-Z2-7 ]+)`", shown).group(1).replace(" ", "")
        self.submit(user, {"code": pyotp.TOTP(secret).at(now)})
        return secret

    def dm_channel(self, user: str) -> str:
        """The DM the bot last wrote `user` in (waiting for it: DMs go out after the ack)."""
        posted = self.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == user
                                     and c.response.get("ok"), timeout=10)
        return posted[-1].response["channel"]

    def tick(self, when: datetime, why: str) -> None:
        self.set_time(when)
        self.say(f"{when:%a %d %b %Y %H:%M} UTC — {why}: the scheduler runs")
        report = run_pass(self.app.deps.engine, self.app.client, when)
        self.out(f"    ({report.inserted} queued, {sum(o.result == 'sent' for o in report.outcomes)} sent)")

    def _channel_name(self, channel: str) -> str:
        found = self.slack.channel(channel) or {}
        return f"#{found['name']}" if found.get("name") else "their DM with the bot"

    def channel_of(self, code: str) -> str:
        return next(c.response["channel"]["id"] for c in self.slack.calls("conversations.create")
                    if c.args.get("name") == code.lower())

    def stop(self) -> None:
        if self.server:
            self.server.close()
        if self.socket:
            self.socket.close()
        self.slack.stop()


def scenario(demo: Demo) -> None:
    demo.slack.add_channel("C0GENERAL", "general", members=list(PEOPLE))
    demo.out("cmo-bot demo: the real app against the local Slack emulator (nothing leaves this machine).")
    demo.command("U0ADA", "program new")
    demo.submit("U0ADA", {
        "code": "ACME-001", "customer": "Acme Pharma", "products": "Acmezol 10 mg tablets",
        "timezone": "America/New_York", "cadence": "weekly", "holidays": "US",
        "program_manager": ["U0PAT"], "cmo_quality": ["U0QUI"], "customer_approver": ["U0ALI"],
        "stability": ["U0SAM"],
    })
    demo.command("U0ADA", "program new")
    demo.submit("U0ADA", {
        "code": "BETA-002", "customer": "Beta Nutraceuticals", "products": "Omega-3 softgels",
        "timezone": "Europe/Berlin", "cadence": "weekly", "holidays": "DE-BY",
        "program_manager": ["U0PAT"], "customer_approver": ["U0BOB"],
    })
    acme, beta = demo.channel_of("ACME-001"), demo.channel_of("BETA-002")
    demo.command("U0PAT", "program list")
    demo.command("U0BOB", "program status --program ACME-001")

    demo.out("\n━━ Agreements: the executed quality agreement and NDA of ACME-001, one expiring soon")
    for values in (
        {"kind": "quality", "counterparty": "Acme Pharma", "status": "executed", "version": "QA v3",
         "effective": date(2025, 1, 15), "expires": date(2027, 1, 31), "notice": "30"},
        {"kind": "nda", "counterparty": "Acme Pharma", "status": "executed", "version": "MNDA 2024",
         "effective": date(2024, 3, 1), "expires": date(2029, 2, 28)},
    ):
        demo.command("U0PAT", "agreement new", channel=acme)
        demo.submit("U0PAT", values)
    demo.command("U0PAT", "agreement list", channel=acme)

    demo.out("\n━━ Batch record review: ready → the CMO's signed QA release → the customer's signed approval, "
             "messages updated in place")
    demo.command("U0PAT", "batch ready B-1042 --product 'Acmezol 10 mg' --release-by 2026-11-13", channel=acme)
    quality = demo.enroll("U0QUI", START)
    secret = demo.enroll("U0ALI", START)
    demo.set_time(START + timedelta(minutes=1))  # a minute later: the app shows a new code
    demo.click("U0QUI", "batch_qa_release", demo.dm_channel("U0QUI"))
    demo.submit("U0QUI", {"code": pyotp.TOTP(quality).at(START + timedelta(minutes=1))})
    demo.slack.wait_for("chat.postMessage", lambda c: c.args.get("channel") == "U0ALI"
                        and "B-1042" in c.args.get("text", ""), timeout=10)  # asked once released
    demo.click("U0ALI", "batch_approve", demo.dm_channel("U0ALI"))
    demo.submit("U0ALI", {"code": pyotp.TOTP(secret).at(START + timedelta(minutes=1)),
                          "comment": "Reviewed with deviation DEV-77 closed."})
    demo.out("\n━━ The same in BETA-002, which has no executed quality agreement: the gate speaks up")
    demo.command("U0PAT", "batch ready B-7 --product 'Omega-3 softgels'", channel=beta)

    demo.out("\n━━ Stability: a study placed at 31 August; pulls are counted from placement, month ends clamp")
    demo.command("U0SAM", "stability new", channel=acme)
    demo.submit("U0SAM", {"product": "Acmezol 10 mg tablets", "lots": "L-2201, L-2202", "protocol": "SP-014",
                          "conditions": ["LT25", "ACC40"], "duration": "24", "placed": "2026-08-31"})
    demo.command("U0SAM", "stability schedule STB-0001", channel=acme)

    demo.out("\n━━ Regulatory submission: a 510(k) checklist from its template, owners asked by DM")
    demo.command("U0PAT", "submission new", channel=acme)
    demo.submit("U0PAT", {"kind": "fda_510k", "title": "Acme catheter 510(k)", "filing_date": "2027-01-15",
                          "contact": "Jo Regulatory, Acme"})

    demo.out("\n━━ Time passes: the scheduler sends what is due, once, at 09:00 in each program's time zone")
    demo.tick(datetime(2026, 11, 2, 14, 5, tzinfo=UTC), "Monday 09:05 in New York")
    demo.tick(datetime(2026, 11, 23, 14, 5, tzinfo=UTC), "three weeks later, 09:05 in New York")
    answered = len(demo.slack.calls("response_url"))
    demo.command("U0PAT", "status", channel=acme)
    demo.slack.wait_for("response_url", count=answered + 1, timeout=30)  # the last answer, before Slack goes away


def run(transport: str = "http") -> int:
    out = Output()
    with tempfile.TemporaryDirectory(prefix="cmo-bot-demo-") as workdir:
        demo = Demo(Path(workdir), out, transport=transport)
        try:
            scenario(demo)
        finally:
            demo.stop()
    out("\nThat was the bot end to end. `cmo-bot --help` lists the commands; README.md connects a real workspace.")
    return 0
