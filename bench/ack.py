"""Acknowledgement latency: signed slash commands, button clicks and form submissions over HTTP to the real
`cmo-bot serve`, side by side with the floor (`bench.floor`: a bare Bolt app under the same server answering
with an empty ack) and the durable floor (the same app keeping each request in the database before its ack),
at 1, 8 and 32 concurrent clients; and the peak RSS of serve.

The Slack side is the local emulator in its own process (`python -m bot.emulator`): the bot's replies to
response URLs and its views.open calls go there. Each client is a thread with a keep-alive connection,
like Slack's; latency is from the first byte sent to the last byte of the answer (the ack). The bot does
its real work after the ack in its worker processes (`serve --workers 2`, bot/worker.py), on the same two
cores; each line waits until that work is done (serve's /metrics: nothing queued, no listener running) and
says how long that took after the last ack.

- command: `/cmo program status` in a program's channel by its program manager (the status digest of a
  program in the big portfolio is composed after the ack and posted to the response URL);
- button: a click on the App Home's "Show all" button (`home_show_all`) by a program manager (a modal opened
  after the ack, then filled with what they owe across their programs: commands/home.py);
- submission: the *Log agreement* form (`agreement_new`) submitted by a program manager, filled as people
  do (a draft NDA, a version typed as `v1.0 – draft`, a note with an accent): a form's submission is answered
  only once its action (the write) has run (its field errors go in the answer), so serve does that itself;
  the channel's notice after the ack goes to the workers (commands/after.py).
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests

from bench.portfolio import channel_of, pm_of
from bot.emulator.client import SlackSender, sign_request
from commands.agreements.views import new_view
from store.programs import Program

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-signing-secret-0123456789"
TOKEN = "xoxb-bench-0000000000-token"
CLIENTS = (1, 8, 32)
PER_KIND = 500  # requests of each kind at each concurrency (the work after them is waited for: see `drain`)
OPEN_RATE, OPEN_PER_KIND = 20.0, 500  # the open-loop line: requests per second, and how many of each kind
WARMUP = 100
NOW = "2026-11-02T15:00:00+00:00"
KINDS = ("command", "button", "submission")  # each a method of `Requests`
FORM = SlackSender("http://unused", SECRET)  # builds a form's state in Slack's shapes (it sends nothing here)
TRIGGER_TTL = 3.0  # Slack refuses a trigger_id older than this: a modal opened later counts as refused


@dataclass
class Process:
    popen: subprocess.Popen
    url: str
    output: list[str]

    def stop(self, timeout: float = 10) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()

    @property
    def pid(self) -> int:
        return self.popen.pid


def launch(command: list[str], env: dict[str, str], marker: str) -> Process:
    popen = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    for line in popen.stdout:  # type: ignore[union-attr]
        output.append(line)
        if marker in line:
            url = line.strip().split()[-1]
            threading.Thread(target=lambda: output.extend(popen.stdout), daemon=True).start()  # type: ignore
            return Process(popen, url, output)
    raise RuntimeError(f"{command[0]} did not start:\n" + "".join(output))


def start_emulator() -> Process:
    return launch([sys.executable, "-m", "bot.emulator", "--port", "0", "--trigger-ttl", str(TRIGGER_TTL)],
                  dict(os.environ), "http")


def emulator_base(emulator: Process) -> str:
    return emulator.url.removesuffix("/api/")


def seed_emulator(emulator: Process, programs: int) -> None:
    base = emulator_base(emulator)
    people = sorted({pm_of(i) for i in range(programs)})
    requests.post(f"{base}/_emulator/users", json=[{"id": u, "name": u.lower()} for u in people], timeout=30)
    requests.post(f"{base}/_emulator/channels", timeout=30,
                  json=[{"id": channel_of(i), "name": f"p{i:04d}"} for i in range(programs)])


def bot_env(emulator: Process, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CMO_", "DATABASE_URL"))}
    env.update({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": emulator.url,
                "DATABASE_URL": database_url, "CMO_ADMINS": "UADMIN", "CMO_NOW": NOW,
                "CMO_FILES_DIR": "/tmp/cmo-bench-files",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))})
    return env


def start_serve(env: dict[str, str], workers: int = 2, port: int = 0, reuse_port: bool = False) -> Process:
    script = Path(sys.executable).with_name("cmo-bot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bot"]
    return launch([*command, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler",
                   "--workers", str(workers), *(["--reuse-port"] if reuse_port else [])], env, "cmo-bot listening on")


REPLICAS = "serve ×2 (--reuse-port)"  # two serve processes on one port, the kernel sharing the connections out


@dataclass
class Replicas:
    """Several `serve --reuse-port` on one port, each with one worker: the same cores and workers as one serve
    with two, but two interpreters answering. Stands where one Process does (its url, first pid, output)."""

    processes: list[Process]

    @property
    def url(self) -> str:
        return self.processes[0].url

    @property
    def pid(self) -> int:
        return self.processes[0].pid

    @property
    def output(self) -> list[str]:
        return [line for process in self.processes for line in process.output]

    def stop(self, timeout: float = 10) -> None:
        for process in self.processes:
            process.stop(timeout)


def start_replicas(env: dict[str, str], count: int = 2) -> Replicas:
    first = start_serve(env, workers=1, reuse_port=True)
    port = urlsplit(first.url).port or 0
    return Replicas([first, *(start_serve(env, workers=1, port=port, reuse_port=True) for _ in range(count - 1))])


def worker_pids(server: Process | Replicas) -> list[int]:
    """The workers serve started (its log names each one's pid)."""
    return [int(pid) for line in list(server.output) for pid in re.findall(r"worker started \(pid (\d+)\)", line)]


def unfinished(server: Process | Replicas) -> float:
    """Requests acknowledged whose work is not done: serve's /metrics gauges `cmo_work_queued` (waiting for or
    under way in a worker) and `cmo_listener_work` (running in serve itself); infinity when the page has no
    `cmo_work_queued` (serve could not read its database in time: unknown, not none)."""
    page = requests.get(server.url.replace("/slack/events", "/metrics"), timeout=30).text
    gauges = [line for line in page.splitlines() if line.startswith(("cmo_work_queued ", "cmo_listener_work "))]
    if not any(line.startswith("cmo_work_queued ") for line in gauges):  # the database not read in time
        return float("inf")
    return sum(float(line.split()[1]) for line in gauges)


def drain(server: Process | Replicas, limit: float = 900, readings: int = 3) -> float:
    """Wait until serve's acknowledged work is all done; return how long that took: until the first of
    `readings` answers in a row saying so (each scrape is a new connection, which may reach any of replicas,
    and `cmo_listener_work` is the answering process's own)."""
    started = time.monotonic()
    done_at: float | None = None
    zeros = 0
    while zeros < readings and time.monotonic() - started < limit:
        if unfinished(server):
            zeros, done_at = 0, None
            time.sleep(0.2)
        else:
            zeros, done_at = zeros + 1, done_at or time.monotonic()
    return (done_at or time.monotonic()) - started




FLOORS = ("floor", "durable floor")  # bench/floor.py bare, and with `--durable`


def start_floor(env: dict[str, str], durable: bool = False) -> Process:
    return launch([sys.executable, "-m", "bench.floor", "--port", "0", *(["--durable"] if durable else [])], env,
                  "floor listening on")


class Requests:
    """Signed request bodies in Slack's shapes; response URLs and trigger ids point at the emulator."""

    def __init__(self, base: str, programs: int, seed: int = 7):
        self.base, self.programs = base, programs
        self.seq = itertools.count(1)
        self.rng = random.Random(seed)

    def _trigger(self) -> str:
        return f"{int(time.time() * 1000)}.{next(self.seq)}.{secrets.token_hex(8)}"

    def command(self) -> str:
        program = self.rng.randrange(self.programs)
        user = pm_of(program)
        return urlencode({
            "token": "legacy", "team_id": "T0CMO", "team_domain": "cmo-test", "channel_id": channel_of(program),
            "channel_name": f"p{program:04d}", "user_id": user, "user_name": user.lower(), "command": "/cmo",
            "text": "program status", "api_app_id": "A0CMOBOT", "is_enterprise_install": "false",
            "response_url": f"{self.base}/respond/cmd-{next(self.seq)}", "trigger_id": self._trigger(),
        })

    def submission(self) -> str:
        program = self.rng.randrange(self.programs)
        user = pm_of(program)
        view = new_view(Program(code=f"P{program:04d}", customer=f"Customer {program % 97}"), user)
        values = {"kind": "nda", "status": "draft", "version": "v1.0 – draft", "notes": "Révision du client"}
        shown = {**view, "id": f"VSUB{next(self.seq)}", "team_id": "T0CMO", "app_id": "A0CMOBOT", "hash": "1.a",
                 "state": {"values": FORM.view_state(view, values)}}
        payload = {
            "type": "view_submission", "team": {"id": "T0CMO", "domain": "cmo-test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0CMO"},
            "api_app_id": "A0CMOBOT", "token": "legacy", "trigger_id": self._trigger(), "view": shown,
            "response_urls": [], "is_enterprise_install": False, "enterprise": None,
        }
        return urlencode({"payload": json.dumps(payload)})

    def button(self) -> str:
        user = pm_of(self.rng.randrange(self.programs))
        view = {"id": f"VHOME{user}", "type": "home", "blocks": [], "hash": "1.a"}
        payload = {
            "type": "block_actions", "team": {"id": "T0CMO", "domain": "cmo-test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": "T0CMO"},
            "api_app_id": "A0CMOBOT", "token": "legacy", "trigger_id": self._trigger(),
            "container": {"type": "view", "view_id": view["id"]}, "view": view,
            "actions": [{"action_id": "home_show_all", "block_id": "b", "type": "button", "value": "0",
                         "text": {"type": "plain_text", "text": "Show all"}, "action_ts": f"{time.time():.6f}"}],
            "is_enterprise_install": False, "enterprise": None,
        }
        return urlencode({"payload": json.dumps(payload)})


def signed(body: str) -> dict[str, str]:
    stamp = int(time.time())
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": sign_request(SECRET, stamp, body)}


def load(url: str, make: Requests, clients: int, per_kind: int, rate: float | None = None
         ) -> tuple[dict[str, list[float]], dict[str, int]]:
    """`per_kind` requests of each of KINDS, in turn, over `clients` keep-alive connections; each client
    sends its next request when the previous one is answered (closed loop) or, with `rate`, request n at
    n / rate seconds from the start (open loop: arrivals as from many independent people)."""
    parts = urlsplit(url)
    kinds = KINDS
    tickets = itertools.count()
    total = len(kinds) * per_kind
    results: dict[str, list[float]] = {k: [] for k in kinds}
    refused = dict.fromkeys(kinds, 0)  # answered with an error status: Slack would show the person a failure
    failures: list[str] = []
    lock = threading.Lock()
    origin = time.perf_counter()

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while (n := next(tickets)) < total:
            kind = kinds[n % len(kinds)]
            if rate is not None and (delay := origin + n / rate - time.perf_counter()) > 0:
                time.sleep(delay)
            with lock:
                body = getattr(make, kind)()
            encoded = body.encode()
            headers = signed(body)
            started = time.perf_counter()
            try:
                connection.request("POST", parts.path, encoded, headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - started
            if response.status != 200:
                refused[kind] += 1
                continue
            results[kind].append(elapsed)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[:3]}")
    return results, refused


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def quiet(pid: int, limit: float = 300) -> float:
    """Wait until the process has finished the work queued after its acks; return how long that took."""
    started = time.monotonic()
    before = cpu_ticks(pid)
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        now = cpu_ticks(pid)
        if now - before <= 2:
            return time.monotonic() - started
        before = now
    return time.monotonic() - started


def memory(pid: int) -> dict[str, int]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(status[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")}  # MiB


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


@dataclass
class AckFigure:
    server: str  # one of FLOORS | serve | BUSY | REPLICAS
    clients: int  # 0: the open-loop line at OPEN_RATE
    kind: str
    count: int
    p50_ms: float
    p99_ms: float
    drain_s: float  # how long after the last ack the work after the acks was done
    refused: int = 0  # answered with an error status (Bolt's 404 when no ack came within its wait)


def _nothing(name: str, clients: int, pid: int) -> None:
    return None


BUSY = "serve, while sweeping and delivering"  # the line measured beside bench.background


def start_background(database_url: str) -> Process:
    return launch([sys.executable, "-m", "bench.background", database_url], dict(os.environ),
                  "background running")


def measure(database_url: str, programs: int, clients=CLIENTS, per_kind: int = PER_KIND, log=print,
            before=_nothing, after=_nothing, busy: bool = True, replicas: bool = True
            ) -> tuple[list[AckFigure], dict[str, dict[str, int]], dict[str, int]]:
    """Figures, the memory of serve and of its workers (MiB: VmRSS at the end, VmHWM = peak) and what the
    emulator received. `before`/`after(server, clients, pid)` run around each measured load (a profiler
    attaches there); `busy` measures serve once more at the most clients while full sweeps of its database
    and reminder deliveries run beside it (`bench.background`); `replicas` measures two serving processes on one
    port (`REPLICAS`) after serve (the work they queue done by their own workers, the emulator's counts
    taken before)."""
    emulator = start_emulator()
    processes: list[Process | Replicas] = [emulator]
    try:
        seed_emulator(emulator, programs)
        env = bot_env(emulator, database_url)
        servers = {"floor": start_floor(env), "durable floor": start_floor(env, durable=True),
                   "serve": start_serve(env)}
        processes += servers.values()
        make = Requests(emulator_base(emulator), programs)
        figures: list[AckFigure] = []

        def line(name: str, server: Process | Replicas, count: int) -> None:
            log(f"ack: {name}, {f'{count} client(s)' if count else f'open loop at {OPEN_RATE:g}/s'} …")
            before(name, count, server.pid)
            if count:
                results, refused = load(server.url, make, count, per_kind)
            else:
                results, refused = load(server.url, make, 32, min(per_kind, OPEN_PER_KIND), rate=OPEN_RATE)
            after(name, count, server.pid)
            drained = quiet(server.pid) if name in FLOORS else drain(server)
            for kind, values in results.items():
                figure = AckFigure(name, count, kind, len(values), 1000 * percentile(values, 0.50),
                                   1000 * percentile(values, 0.99), drained, refused[kind])
                log(f"  {kind:<8} p50 {figure.p50_ms:6.1f} ms  p99 {figure.p99_ms:6.1f} ms  (n={figure.count}, "
                    f"{figure.refused} error answers, work after the acks done {drained:.1f} s after the last)")
                figures.append(figure)

        def lines(name: str, server: Process | Replicas) -> None:
            load(server.url, make, 4, WARMUP // 2)
            quiet(server.pid) if name in FLOORS else drain(server)
            for count in (*clients, 0):
                line(name, server, count)

        for name, server in servers.items():
            lines(name, server)
        if busy:
            background = start_background(database_url)
            try:
                line(BUSY, servers["serve"], max(clients))
            finally:
                background.stop(timeout=120)  # it finishes the sweep and the delivery under way
            log("".join(line for line in background.output if line.startswith("background:")))
        rss = {"serve": memory(servers["serve"].pid)}
        for pid in worker_pids(servers["serve"]):
            if Path(f"/proc/{pid}").exists():
                rss[f"worker {pid}"] = memory(pid)
        received = {}
        for method in ("response_url", "views.open", "views.update"):
            calls = requests.get(f"{emulator_base(emulator)}/_emulator/calls", params={"method": method},
                                 timeout=120).json()["calls"]
            received[method] = len(calls)
            received[f"{method} refused"] = sum(1 for c in calls if not (c.get("response") or {}).get("ok", True))
        if replicas:  # after serve is gone: its workers would share the queue with theirs
            servers["serve"].stop()
            both = start_replicas(env)
            processes.append(both)
            lines(REPLICAS, both)
        return figures, rss, received
    finally:
        for process in reversed(processes):
            process.stop()
