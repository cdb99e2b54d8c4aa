"""What is acknowledged is done once, even when the worker doing it is killed (bot/worker.py, store/work.py).

The real `cmo-bot serve` acknowledges signed commands and queues them; its `cmo-bot work` processes run them.
Here each command logs a redline round on an agreement of its own — a change that nothing else would stop
from being made twice — and the workers are killed with SIGKILL at random moments while they work through the
backlog (serve starts new ones; a worker frees a dead one's claims). Then the queue drains. Every
acknowledged command must have changed things exactly once and its person must have been answered.
The seed of each run is in the assertion messages.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlmodel import col, select

from bot.clock import real_now
from bot.worker import GIVEN_UP, SAVED, alive
from store import work
from store.agreements import service as agreements
from store.agreements.service import Redline
from store.db import transaction
from store.work import Work
from tests import factories
from tests.e2e.harness import Bot, BotProcess

CHANNEL = "CACME001"
COMMANDS = 40  # one agreement each
INTERRUPTIONS = 3  # workers killed while they held a request


def _claimed(engine) -> list[Work]:
    with transaction(engine) as session:
        return list(session.exec(select(Work).where(col(Work.claimed_by).is_not(None))).all())


def _still_claimed(engine, item: Work) -> bool:
    with transaction(engine) as session:
        row = session.get(Work, item.id)
        return row is not None and row.claimed_by == item.claimed_by


def _program(bot: Bot, engine, agreements_count: int) -> None:
    with transaction(engine) as session:
        program = factories.program(session, bot.clock.now(), channel=CHANNEL)
        for _ in range(agreements_count):
            agreements.create(session, program=program, actor=factories.ADMIN, now=bot.clock.now(),
                              kind=agreements.Kind.quality, counterparty="Acme Pharma",
                              status=agreements.Status.draft, terms=agreements.Terms())
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UQA1", "UAPP1"])


def test_workers_killed_at_random_moments_lose_nothing_and_change_nothing_twice(bot, engine):
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    _program(bot, engine, COMMANDS)
    sent: dict[str, tuple[int, object]] = {}
    with paused(engine, _workers(bot, every=True)):  # a backlog to work through
        for n in range(1, COMMANDS + 1):
            note = f"round {n}: clause {rng.randrange(100)} changed"
            sent[note] = n, bot.command(f'agreement redline QA-{n} --from customer "{note}"', user="UAPP1",
                                        channel=CHANNEL)  # acknowledged (200): queued for the workers
    interrupted = 0
    try:
        deadline = time.monotonic() + 60
        while interrupted < INTERRUPTIONS and time.monotonic() < deadline:
            held = [item for item in _claimed(engine) if _running(_pid(item))]  # not a killed one's old claim
            if not held:
                threading.Event().wait(0.005)  # waiting for another process to claim, not moving the bot's time
                continue
            item = rng.choice(held)
            threading.Event().wait(rng.uniform(0, 0.01))  # a random moment of its run (a run takes tens of ms)
            os.kill(_pid(item), signal.SIGKILL)
            interrupted += _still_claimed(engine, item)  # killed before it finished (its row goes when it does)
    finally:
        bot.process.wait_idle(timeout=120)  # the killed workers' requests are claimed again and done
    assert interrupted == INTERRUPTIONS, f"seed {seed}: only {interrupted} runs interrupted (the backlog ran out)"
    assert len(_workers(bot)) == 2, "serve starts a new worker for each one killed"
    with transaction(engine) as session:
        notes = [r.note for r in session.exec(select(Redline)).all()]
    assert sorted(notes) == sorted(sent), f"seed {seed}: each acknowledged redline exactly once"
    for note, (n, response) in sent.items():
        answer = bot.reply(response, timeout=10)["text"]
        assert answer.startswith(f"Logged round 1 of QA-{n};") or answer == SAVED, (seed, note, answer)


def test_a_request_whose_change_was_written_before_its_worker_died_is_not_run_again(bot, engine):
    """The window between a run's commit and the end of its request, made on purpose: the workers are paused,
    the request is claimed by a process that has ended and marked applied, as a run that died there leaves it."""
    _program(bot, engine, 1)
    with paused(engine, _workers(bot, every=True)):
        response = bot.command('agreement redline QA-1 --from customer "Section 4"', user="UAPP1", channel=CHANNEL)
        gone = subprocess.Popen(["true"])  # a process of this machine that has ended: a dead worker's pid
        gone.wait()
        item = work.claim(engine, bot.env["CMO_WORK_QUEUE"], f"{socket.gethostname()[:40]}:{gone.pid}", real_now())
        assert item is not None
        with work.running(item), transaction(engine) as session:
            work.note_change(session)  # what the audit row of its change did
    assert bot.reply(response, timeout=10)["text"] == SAVED
    bot.process.wait_idle()
    with transaction(engine) as session:
        assert session.exec(select(Redline)).all() == []  # not run a second time


def _workers(bot: Bot, every: bool = False) -> list[int]:
    """The pids of serve's running workers, from its log; with `every`, of every bot process sharing its work
    queue (the socket process started beside serve, when a test has started it, claims from the same queue)."""
    queue = bot.env["CMO_WORK_QUEUE"]
    processes = [p for p in BotProcess.running if p.env["CMO_WORK_QUEUE"] == queue] if every else [bot.process]
    started = (int(pid) for process in processes for line in list(process.output)
               for pid in re.findall(r"worker started \(pid (\d+)\)", line))
    return [pid for pid in started if _running(pid)]


@contextmanager
def paused(engine, pids: list[int]) -> Iterator[None]:
    """The workers stopped (SIGSTOP) within the block: what is acknowledged meanwhile waits in the queue. They
    are stopped while this test holds a write transaction (on SQLite, the write lock), so none is stopped in
    the middle of one of its own — it would hold SQLite's lock, and serve could queue nothing."""
    assert pids, "serve has no worker running"
    with transaction(engine) as session:
        session.execute(text("SELECT 1"))  # the transaction begins (SQLite: BEGIN IMMEDIATE)
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _pid(item: Work) -> int:
    """The process holding a claim (a worker names itself host:pid)."""
    return int(str(item.claimed_by).rsplit(":", 1)[1])


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a killed child not yet reaped is a zombie
    except FileNotFoundError:
        return False


def test_a_request_that_stopped_its_workers_three_times_is_given_up_and_its_person_told(bot, engine):
    """A request whose every run ends with its worker dead (out of memory, say) is not run a fourth time."""
    _program(bot, engine, 1)
    with paused(engine, _workers(bot, every=True)):
        response = bot.command('agreement redline QA-1 --from customer "Section 4"', user="UAPP1", channel=CHANNEL)
        for _ in range(work.MAX_ATTEMPTS):  # three runs, each by a worker that died holding it
            gone = subprocess.Popen(["true"])
            gone.wait()
            host = socket.gethostname()[:40]
            assert work.claim(engine, bot.env["CMO_WORK_QUEUE"], f"{host}:{gone.pid}", real_now()) is not None
            assert work.release_dead(engine, host, alive) == 1
    assert bot.reply(response)["text"] == GIVEN_UP.format(attempts=work.MAX_ATTEMPTS)
    bot.process.wait_idle()
    with transaction(engine) as session:
        assert session.exec(select(Redline)).all() == [] and session.exec(select(Work)).all() == []
