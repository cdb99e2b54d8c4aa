"""The work after an acknowledgement, done by other processes: the serving process only acknowledges.

Why: Bolt runs the work after `ack()` in the acknowledging process, and Python runs one thread at a time, so under
a burst of requests each new acknowledgement waited for the work of the ones before it (p50 160 ms at 8 clients
against 11 ms for a bare app; bench/results.md). With `serve --workers N` (or `socket`), the listeners of
commands, buttons, shortcuts, events and closed forms are deferred (commands/boundary.py, `DEFERRABLE`): the
serving process runs each listener in the thread that answers (bot/app.py: `process_before_response`), so nothing
else may run there after an ack, and a deferred listener's ack function there only queues its request
(`Queueing`): the request is written to the `work` table and committed before the acknowledgement leaves. The
workers' app registers the same listeners as Bolt lazy listeners behind an empty ack. `cmo-bot work` processes
(`run_worker`, started and kept running by serve, at nice 19 so that acknowledgements win the cores) claim each
request and run it through that app, as Bolt runs a lazy listener re-invoked on AWS Lambda: the stored body with
Bolt's lazy-only headers, through `App.dispatch`. The request's signature was checked when it arrived; the worker
reads it from the bot's own database.

What is acknowledged is done once (store/work.py): a worker killed half-way leaves its claim to expire and
another runs the request; a request whose change was already written is not run again — the person is told
it was saved.

A form's submission is not queued: serve validates it, writes its change and acknowledges it with any field
errors. What its listener does after that ack (the channel's notice, files filed, DMs) is queued too, as a
follow-up (commands/after.py, work rows of mode `after.MODE`) written in the transaction of the form's change,
so that it commits with it (`hand_over`): a worker runs the function registered under its name with its payload
of ids (`follow`), marked done once it reaches its end, each of its steps once.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.context.respond import Respond
from slack_bolt.lazy_listener import ThreadLazyListenerRunner
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot import metrics
from bot.clock import real_now
from commands import after, boundary
from commands.boundary import GuardedApp
from commands.deps import Deps
from commands.interaction import KEY as INTERACTION
from commands.interaction import RECEIVED, Interaction
from store import work

log = logging.getLogger("cmo_bot.work")

NICENESS = 19  # the lowest priority: the cores go to acknowledgements during a burst, the work right after it
POLL = 0.05  # seconds between looks at the queue when it is empty: a modal's trigger_id lives 3 seconds
RECLAIM_EVERY = 40  # polls between looks for expired claims (a dead worker's requests), about every 2 s
SAVED = (":white_check_mark: Your request was carried out, but the bot was restarted before it could answer. "
         "Look again to see the result.")
GIVEN_UP = (":boom: The bot could not carry out your request (it stopped the bot {attempts} times). Nothing more "
            "will be tried; tell your admin if this persists.")


class Queueing:
    """The queue of the serving process (`GuardedApp.queue_deferred`): a deferred listener's request is written
    to the work table, committed before its ack function acks. When the database cannot take it (down, or its
    write lock held past the serving wait), the listener runs here instead, as Bolt runs a lazy listener: it
    then answers the person itself (the database is not answering, try again) rather than Slack showing a
    failed request. A request that may open a form (`opens_form`, the declared rule of commands/access.py)
    goes to the deployment's forms queue, which workers take first: Slack accepts its trigger_id for three
    seconds only, which a request behind a backlog could outwait. Its engine does not ping a pooled connection
    before using it: that round trip was a quarter of an acknowledgement's time under load, and a connection
    gone stale (the database restarted) fails the insert, is dropped from the pool, and the request is run
    here. Its PostgreSQL connections commit each statement by itself (autocommit), so the insert and its
    commit are one round trip (store/work.py's `enqueue`)."""

    def __init__(self, engine: Engine, queue: str, opens_form: Callable[[dict[str, Any]], bool]):
        self.engine, self.queue = engine, queue
        self.opens_form = opens_form

    def put(self, app: App, listener: Callable[..., Any], name: str, request: BoltRequest) -> None:
        interaction = request.context.get(INTERACTION)  # the request's own `now` (commands/interaction.py)
        if interaction is None:
            raise RuntimeError("a request without its interaction cannot be queued")
        queue = work.forms_of(self.queue) if self.opens_form(request.body) else self.queue
        try:
            work.enqueue(
                self.engine, queue=queue, listener=name, mode=request.mode, content_type=request.content_type,
                received_at=interaction.now,
                body=request.raw_body if request.mode == "http" else json.dumps(request.body),
            )
        except SQLAlchemyError as exc:
            log.warning("work not queued (%s): done in the serving process", type(exc).__name__)
            here = ThreadLazyListenerRunner(logger=app.logger, executor=app.listener_runner.listener_executor)
            here.start(listener, lazy(app, request, name))


def lazy(app: App, request: BoltRequest, name: str) -> BoltRequest:
    """The request as Bolt hands it to its lazy listener `name` in another thread: a copy (its context's Web
    API client, ack and respond of its own), marked lazy-only, with the app's listener runner, which is not
    copied."""
    copied: BoltRequest = copy.deepcopy(request.to_copyable())
    copied.lazy_only, copied.lazy_function_name = True, name
    copied.context["listener_runner"] = app.listener_runner
    return copied


def queue_deferred(app: GuardedApp, engine: Engine, queue: str, opens_form: Callable[[dict[str, Any]], bool]
                   ) -> None:
    """Make `app` queue its deferred listeners' requests in `queue` for the workers (commands/boundary.py)."""
    app.queue_deferred(Queueing(engine, queue, opens_form))


def request_of(item: work.Work) -> BoltRequest:
    """The stored request as Bolt's lazy-only request for its listener."""
    headers: dict[str, str | Sequence[str]] = {"x-slack-bolt-lazy-only": "1",
                                               "x-slack-bolt-lazy-function-name": item.listener}
    if item.content_type:
        headers["content-type"] = item.content_type
    body: str | dict[str, Any] = item.body if item.mode == "http" else json.loads(item.body)
    return BoltRequest(body=body, headers=headers, mode=item.mode, context={RECEIVED: item.received_at})


def tell(app: App, body: dict[str, Any], text: str) -> None:
    """Say something to the person of a request the worker did not run, the way the boundary answers one:
    on the request's response_url (a command's or a button's), else ephemeral in its channel, else by DM."""
    url = body.get("response_url") or (body.get("response_urls") or [{}])[0].get("response_url")
    boundary.tell(app.client, body, text, Respond(response_url=url) if url else None)


def run_one(app: App, deps: Deps, worker: str, queue: str) -> bool:
    """Claim and run one request of `queue`; False when none was free."""
    item = work.claim(deps.engine, queue, worker, real_now())
    if item is None:
        return False
    assert item.id is not None
    if item.mode == after.MODE:
        follow(app, deps, item)
        work.finish(deps.engine, item.id)
        return True
    request = request_of(item)
    if item.applied_by is not None:  # a run before this one wrote its change, then stopped
        tell(app, request.body, SAVED)
    elif item.attempts > work.MAX_ATTEMPTS:
        log.error("request %s (%s) given up after %s attempts", item.id, item.listener, item.attempts - 1)
        tell(app, request.body, GIVEN_UP.format(attempts=item.attempts - 1))
    else:
        with work.running(item):
            app.dispatch(request)
    work.finish(deps.engine, item.id)
    return True


def follow(app: App, deps: Deps, item: work.Work) -> None:
    """Run a form's follow-up (commands/after.py) as of the request it follows. Its steps that must be done
    once are marked by the follow-up itself, so a run after a dead worker's is a run like any other; its error
    is answered to the person by DM, as the boundary answers a listener's."""
    who = Interaction(deps, item.received_at, after.person(item.body))
    if item.attempts > work.MAX_ATTEMPTS:
        log.error("follow-up %s (%s) given up after %s attempts", item.id, item.listener, item.attempts - 1)
        boundary.tell(app.client, {"user_id": who.user_id}, GIVEN_UP.format(attempts=item.attempts - 1))
        return
    try:
        after.run(who, app.client, item.listener, item.body)
    except Exception as error:
        boundary.tell(app.client, {"user_id": who.user_id}, boundary.interactive_error(error))


def hand_over(engine: Engine, queue: str, *, from_forms_only: bool = False
              ) -> Callable[[str, str, datetime, Session | None], bool]:
    """How a process hands a follow-up to the workers (`Deps.hand_over`, commands/after.py): one row of the work
    table, written in the session given — the transaction of the form's change it follows, committed with it —
    or else committed by itself on `engine` before the listener goes on. The serving process hands over every
    one. A worker (`from_forms_only`) hands over only from a request of the forms queue, whose next request
    waits for it and must open its modal within Slack's three seconds; any other follow-up it runs itself, as it
    runs the rest of the request."""

    def handing(name: str, body: str, received_at: datetime, session: Session | None) -> bool:
        running = work.RUNNING.get()
        if from_forms_only and (running is None or not running.form):
            return False
        work.enqueue(engine if session is None else session, queue=queue, listener=name, mode=after.MODE,
                     content_type=None, body=body, received_at=received_at)
        return True

    return handing


def run_worker(app: App, deps: Deps, stop: threading.Event, ready_fd: int | None = None) -> None:
    """Run queued requests until `stop` is set: fresh ones as they come; now and then, those of workers that
    died (on this machine: at once; elsewhere: when their claim expires). The serving process that started
    this one is told it is ready on `ready_fd` (`Workers.start`). Requests that may open a form come first:
    each is looked for before any other."""
    host = socket.gethostname()[:40]
    worker = f"{host}:{os.getpid()}"
    queues = (work.forms_of(deps.settings.cmo_work_queue), deps.settings.cmo_work_queue)
    if ready_fd is not None:
        os.write(ready_fd, b".")
        os.close(ready_fd)
    polls, away = 0, False
    while not stop.is_set():
        polls += 1
        reclaim = polls % RECLAIM_EVERY == 0
        try:
            if reclaim:
                work.release_dead(deps.engine, host, alive)
            if any((reclaim or work.fresh(deps.engine, queue)) and run_one(app, deps, worker, queue)
                   for queue in queues):
                continue  # there may be more: no pause
        except SQLAlchemyError as exc:  # the database away: said once, then looked at again every second
            if not away:
                log.warning("worker waiting for the database (%s)", type(exc).__name__)
            away = True
            stop.wait(POLL * RECLAIM_EVERY / 2)
            continue
        if away:
            log.info("worker: the database is back")
            away = False
        stop.wait(POLL)


def alive(pid: int) -> bool:
    """Whether a process of this machine is running (signal 0 checks without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


class Workers:
    """`cmo-bot work` processes started beside the serving process and started again when one stops (killed,
    or out of memory): the serving process only acknowledges, so its work must always have somewhere to go."""

    def __init__(self, count: int, command: Sequence[str]):
        self.count, self.command = count, list(command)
        self.env: dict[str, str] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stopping = threading.Event()
        self.counted = ""  # where the workers write their counters (bot.metrics.WithWorkers reads them)

    def start(self, ready_within: float = 120) -> Workers:
        """Start the workers and return once each has said it is ready (or `ready_within` seconds passed):
        a request acknowledged before any worker runs would wait for one, and a modal's trigger_id lives 3
        seconds."""
        counted = tempfile.mkdtemp(prefix="cmo-worker-metrics-")
        self.env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": counted}
        self.counted = counted
        metrics.count_workers_in(counted)
        ready, told = os.pipe()
        try:
            self.processes = [self._spawn(told) for _ in range(self.count)]
            os.close(told)
            told = -1
            deadline = time.monotonic() + ready_within
            said = 0
            while said < self.count and (left := deadline - time.monotonic()) > 0:
                if not select.select([ready], [], [], left)[0]:
                    break
                chunk = os.read(ready, self.count)
                if not chunk:  # every worker's end closed: some stopped before saying so
                    break
                said += len(chunk)
            if said < self.count:
                log.warning("%s of %s workers ready; the others are still starting", said, self.count)
        finally:
            os.close(ready)
            if told >= 0:
                os.close(told)
        threading.Thread(target=self._watch, daemon=True, name="workers").start()
        return self

    def _spawn(self, told: int | None = None) -> subprocess.Popen[bytes]:
        command = self.command if told is None else [*self.command, "--ready-fd", str(told)]
        process = subprocess.Popen(command, env=self.env, pass_fds=() if told is None else (told,))
        log.info("worker started (pid %s)", process.pid)
        return process

    def _watch(self) -> None:
        while not self.stopping.wait(1.0):
            for index, process in enumerate(self.processes):
                if process.poll() is not None and not self.stopping.is_set():
                    log.warning("worker pid %s stopped (exit %s); starting another", process.pid,
                                process.returncode)
                    self.processes[index] = self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.counted, ignore_errors=True)


def worker_command() -> list[str]:
    """How the serving process starts a worker: this interpreter, `python -m bot work`."""
    return [sys.executable, "-m", "bot", "work"]
