"""The end-to-end harness: the real `cmo-bot serve` in a subprocess, the local Slack emulator, and a
sender that signs Slack's real request shapes. Nothing of the bot's own code is mocked on this path.

Two transports, one suite: a test marked `@BOTH_TRANSPORTS` runs once against `cmo-bot serve` (signed
HTTP requests) and once against `cmo-bot socket` (envelopes on the emulator's Socket Mode WebSocket);
`Bot`'s methods are the same for both.

Time is an input: the serve process reads its clock from a file (`CMO_NOW=@file`) that `Clock.set`
rewrites, and `Bot.tick(now)` runs `cmo-bot tick --now …` as its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.emulator.client import SlackSender, SocketModeSender
from bot.emulator.server import Call, SlackEmulator
from store.storage import Store
from tests.s3_server import SeaweedS3, store_of

REPO = Path(__file__).resolve().parents[2]
SECRET = "e2e-signing-secret-0123456789"
TOKEN = "xoxb-e2e-0000000000-token"
APP_TOKEN = "xapp-1-A0CMOBOT-e2e-token"
TRANSPORTS = ("http", "socket")
BOTH_TRANSPORTS = pytest.mark.parametrize("bot", TRANSPORTS, indirect=True)
ADMIN = "UADMIN"
SECRET_KEY = "ZTJlLXNpZ25pbmctc2VjcmV0cy1rZXktMDEyMzQ1Njc="  # a Fernet key that encrypts signing secrets
PUBLIC_URL = "https://cmo.example.test"  # where feed links point; tests fetch the same paths from `serve`

# The people every end-to-end test can use; UAPP2 is a customer approver outside the company.
PEOPLE = {
    "UADMIN": ("ada", "Ada Admin", False),
    "UPM1": ("pat", "Pat Manager", False),
    "UQA1": ("quinn", "Quinn Quality", False),
    "UAPP1": ("alice", "Alice Approver", False),
    "UAPP2": ("bob", "Bob Approver", True),
    "USTAB1": ("sam", "Sam Stability", False),
    "URA1": ("rae", "Rae Regulatory", False),
    "UOUT": ("olga", "Olga Outsider", False),
    "UBETA": ("bea", "Bea Beta-customer", True),
}


# For the scenarios that keep documents: run once with the bot filing to a local folder, once to S3.
both_stores = pytest.mark.parametrize("bot", ["local", "s3"], indirect=True)


def cmo_bot() -> list[str]:
    """The installed console script (tests run the real `cmo-bot`)."""
    script = Path(sys.executable).with_name("cmo-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


class Clock:
    def __init__(self, path: Path):
        self.path = path

    def set(self, when: datetime | str) -> None:
        """Write-then-rename, so the bot never reads a half-written instant."""
        staged = self.path.with_suffix(".tmp")
        staged.write_text(when if isinstance(when, str) else when.isoformat())
        staged.replace(self.path)

    def now(self) -> datetime:
        return datetime.fromisoformat(self.path.read_text())


def seed(slack: SlackEmulator) -> None:
    for user_id, (name, real_name, external) in PEOPLE.items():
        slack.add_user(user_id, name, real_name=real_name, tz="America/New_York", external=external)


class BotProcess:
    """A running `cmo-bot serve` (or `cmo-bot socket`); its stdout and stderr are kept for assertions on logs.

    `url` is the HTTP request URL (serve only); `health_url` is GET /healthz of either; `scheduler` runs the
    in-process scheduler (off by default: tests move time with `tick`); `options` are added to the command line
    (a later `--port` wins).
    """

    STARTED = {"http": ("cmo-bot listening on ", " on "), "socket": ("cmo-bot connected to Slack", " health on ")}
    running: list[BotProcess] = []  # every bot of the test session, waited for between tests (`wait_idle`)

    def __init__(self, env: dict[str, str], transport: str = "http", scheduler: bool = False,
                 options: Sequence[str] = ()):
        self.env = env
        self.transport = transport
        command = (["serve", "--port", "0"] if transport == "http" else ["socket", "--health-port", "0"])
        self.proc = subprocess.Popen(
            [*cmo_bot(), *command, "--host", "127.0.0.1", *([] if scheduler else ["--no-scheduler"]), *options],
            env=env, cwd=env["CMO_WORKDIR"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.output: list[str] = []
        self._started = threading.Event()  # set by each line read: the start line may be in it
        threading.Thread(target=self._drain, daemon=True).start()
        started = self._await_start()
        self.url = started if transport == "http" else None
        self.health_url = started.replace("/slack/events", "/healthz")
        BotProcess.running.append(self)

    def _await_start(self, timeout: float = 60) -> str:
        """The address the bot printed on starting. Its line is looked for anywhere in the output: another
        thread's log (stderr shares the pipe) may have left a partial line in front of it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            self._started.clear()
            if (address := self._address()) is not None:
                return address
            self._started.wait(0.05)  # waiting for another process to start, not moving the bot's time
        if (address := self._address()) is not None:  # it may have printed the line and stopped at once
            return address
        raise RuntimeError(f"cmo-bot {self.transport} did not start within {timeout}s:\n" + "".join(self.output))

    def _address(self) -> str | None:
        prefix, separator = self.STARTED[self.transport]
        for line in list(self.output):
            if prefix in line:
                return line[line.index(prefix):].split(separator, 1)[1].strip()
        return None

    def _drain(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.output.append(line)
            self._started.set()

    def listener_work(self, attempts: int = 25) -> float:
        """Requests whose work is not done: listeners running in the bot and requests queued for its workers
        (its /metrics gauges `cmo_listener_work` and `cmo_work_queued`). A page without the queue's gauge (the
        bot could not read the database in time: workers writing hold SQLite's lock) says nothing of the queue,
        not that it is empty: the page is asked again, for about five seconds, before it is taken as it is (a
        test that took the database away)."""
        if self.proc.poll() is not None:  # stopped or killed by its test: nothing of it still runs
            return 0
        gauges = self._work_gauges()
        for _ in range(attempts - 1):
            if any(line.startswith("cmo_work_queued ") for line in gauges):
                break
            time.sleep(0.2)  # waiting for another process to release the database, not moving the bot's time
            gauges = self._work_gauges()
        return sum(float(line.split()[1]) for line in gauges)

    def _work_gauges(self) -> list[str]:
        page = requests.get(self.health_url.replace("/healthz", "/metrics"), timeout=5).text
        return [line for line in page.splitlines() if line.startswith(("cmo_listener_work ", "cmo_work_queued "))]

    def wait_idle(self, timeout: float = 30) -> None:
        """Until the work after every ack has finished: a test's lingering work (a channel being created, a DM
        being sent) must not write into the next test's freshly wiped database."""
        deadline = time.monotonic() + timeout
        while self.listener_work() > 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"cmo-bot {self.transport} still busy after {timeout}s:\n"
                                     + "".join(self.output[-40:]))
            time.sleep(0.02)  # waiting for another process, not moving the bot's time

    def stop(self) -> None:
        if self in BotProcess.running:
            BotProcess.running.remove(self)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Bot:
    """What a test drives: signed requests in, `tick` runs, and the emulator's record to look at."""

    def __init__(self, process: BotProcess, slack: SlackEmulator, clock: Clock):
        self.process = process
        self.slack = slack
        self.clock = clock
        self.transport = process.transport
        self.send = SlackSender(process.url, SECRET, slack) if process.url else SocketModeSender(slack)

    @property
    def env(self) -> dict[str, str]:
        return self.process.env

    @property
    def files(self) -> Store:
        """The document store this bot files to, as the test sees it."""
        return store_of(self.env)

    def command(self, text: str, user: str = "UPM1", channel: str = "CGENERAL", **kw: Any) -> requests.Response:
        response = self.send.command(text, user, channel, **kw)
        assert response.status_code == 200, (response.status_code, response.text)
        return response

    def reply(self, response: requests.Response, timeout: float = 15) -> dict[str, Any]:
        """The (first) message the bot posted to this command's response_url."""
        tag = response.response_url_tag  # type: ignore[attr-defined]
        return self.slack.wait_for("response_url", lambda c: c.args.get("tag") == tag, timeout)[0].args

    def answer(self, response: requests.Response, timeout: float = 15) -> tuple[str, dict[str, Any]]:
        """("reply", message) when the bot answered on the response_url, ("view", view) when it opened a form."""
        tag, trigger = response.response_url_tag, response.trigger_id  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self.slack.calls("views.open"):  # a form, even when a line confirms it was opened
                if call.args.get("trigger_id") == trigger:
                    return "view", call.args.get("view") or {}
            for call in self.slack.calls("response_url"):
                if call.args.get("tag") == tag:
                    return "reply", call.args
            time.sleep(0.02)  # waiting for another process to answer, not moving the bot's time
        raise AssertionError(f"no answer to {response.payload!r} within {timeout}s")

    def ask(self, text: str, user: str = "UPM1", channel: str = "CGENERAL") -> str:
        """Run a command and return the text of its ephemeral reply."""
        return self.reply(self.command(text, user, channel))["text"]

    def submit(self, user: str, values: dict[str, Any]) -> requests.Response:
        response = self.send.submit_last_view(user, values)
        assert response.status_code == 200, (response.status_code, response.text)
        return response

    def tick(self, now: datetime | str, *extra: str) -> list[str]:
        when = now if isinstance(now, str) else now.isoformat()
        done = subprocess.run([*cmo_bot(), "tick", "--now", when, *extra], env=self.env, cwd=self.env["CMO_WORKDIR"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return [line for line in done.stdout.splitlines() if line.strip()]

    def posts(self, channel: str | None = None, predicate: Callable[[Call], bool] | None = None) -> list[Call]:
        """chat.postMessage calls, optionally to one channel (or user, for DMs)."""
        return [c for c in self.slack.calls("chat.postMessage")
                if (channel is None or c.args.get("channel") == channel) and (predicate is None or predicate(c))]


def s3_env(env: dict[str, str], server: SeaweedS3, prefix: str | None = None) -> dict[str, str]:
    """`env` with documents in a bucket prefix of the test S3 server instead of a local folder."""
    return {**{k: v for k, v in env.items() if k != "CMO_FILES_DIR"}, **server.env(prefix)}


def bot_env(slack: SlackEmulator, db_url: str, workdir: Path, clock: Clock) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CMO_", "DATABASE_URL"))}
    env.update({
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": db_url,
        "CMO_FILES_DIR": str(workdir / "files"),
        "CMO_ADMINS": ADMIN,
        "CMO_TIMEZONE": "America/New_York",
        "CMO_ALERTS_CHANNEL": "CALERTS",
        "CMO_SECRET_KEY": SECRET_KEY,
        "CMO_PUBLIC_URL": PUBLIC_URL,
        "CMO_NOW": f"@{clock.path}",
        "CMO_WORKDIR": str(workdir),
        "CMO_WORK_QUEUE": workdir.name,  # bots configured differently share the test database, not their work
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    })
    return env
