"""`create_app(settings)`: the fully wired Bolt app. Opens no network connection."""

from __future__ import annotations

import logging

from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from sqlalchemy.engine import Engine

from bot import worker
from bot.clock import Clock
from bot.metrics import ListenerPool, MeasuredApp
from bot.settings import Settings
from bot.slack import web_client
from commands import boundary, file_to_program, home, interaction, onboarding, status
from commands.access import DeclaredApp, admission, opens_form
from commands.areas import AREAS, TARGETS
from commands.deps import Deps
from commands.router import Router
from store import audit
from store.db import CONNECTIONS, SERVING_WAIT, make_engine

LISTENER_THREADS = CONNECTIONS - 8  # each may hold a database connection; the rest: scheduler, /healthz


def _not_token_skipped(record: logging.LogRecord) -> bool:
    """Drop Bolt's note that SLACK_BOT_TOKEN is unused because a client is given: that is the design, and a
    level would not do (Bolt sets its logger's level from the root logger's)."""
    return record.getMessage() != warning_client_prioritized_and_token_skipped()


class WiredApp(DeclaredApp, MeasuredApp):
    """The Bolt app: every listener inside the error boundary (commands/boundary.py) with its id declared
    (commands/access.py), every request counted and its acknowledgement timed for /metrics (bot/metrics.py)."""

    deps: Deps  # `create_app` always gives one (the boundary's may be None for a bare app in tests)


ROLES = ("whole", "acknowledge", "work")


def create_app(settings: Settings, engine: Engine | None = None, role: str = "whole") -> WiredApp:
    """`role` says where the work after an acknowledgement runs (bot/worker.py): "whole" in this process (one
    process does all: the tests in process, the demo, `serve --workers 0`); "acknowledge" queued for workers
    (serve, socket); "work" is such a worker, running queued requests, whose signatures were checked when
    they arrived."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    queueing = None
    engine = engine or make_engine(settings.database_url, wait=SERVING_WAIT)
    hand_over = None
    if role == "acknowledge":  # requests and forms' follow-ups are written to the work table (bot/worker.py)
        queueing = make_engine(settings.database_url, wait=SERVING_WAIT, ping=False, autocommit=True)
        hand_over = worker.hand_over(queueing, settings.cmo_work_queue)
    elif role == "work":  # a request of the forms queue leaves what fills its modal to the other queue
        hand_over = worker.hand_over(engine, settings.cmo_work_queue, from_forms_only=True)
    deps = Deps(engine, settings, Clock(settings.cmo_now), hand_over=hand_over)
    audit.use_key(settings.cmo_audit_key)
    logging.getLogger("slack_bolt.App").addFilter(_not_token_skipped)
    app = WiredApp(
        deps=deps,
        admitted=admission(deps, queueing),  # its one read on the queueing engine, when there is one
        client=web_client(settings),
        signing_secret=settings.slack_signing_secret or "",
        # Not Bolt's signature check: every HTTP request's is checked by the gate in front of Bolt (bot/gate.py,
        # the way bot/server.py lets requests in), which hands Bolt an interactive payload decoded; Socket Mode's
        # requests have none, and a worker's were checked when they arrived.
        request_verification_enabled=False,
        deferred=boundary.DEFERRABLE if role != "whole" else frozenset(),
        token_verification_enabled=False,
        # Acknowledging for workers, a listener here does only what its ack needs (a form's validation and
        # write, then the hand-over of the rest): it runs in the thread that answers, and its answer leaves as
        # it returns. Else Bolt runs it in an executor thread and the answering thread looks for the ack every
        # 10 ms (slack_bolt/listener/thread_runner.py): up to 10 ms added to every ack. Bolt's `ack_timeout`
        # (3 s: how long it looks) then bounds nothing; the listener's waits for a lock or a connection are
        # (store/db.py: SERVING_WAIT, POOL_WAIT), and it holds its answering thread until it returns.
        process_before_response=role == "acknowledge",
        # Bolt runs ack() and the work after it in one executor thread (role "whole"; "acknowledge": a lazy
        # listener the database could not queue); its default of 5 threads lets slow work (channel creation,
        # DMs, uploads) hold back the next request's acknowledgement past 3 seconds.
        listener_executor=ListenerPool(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
        user_facing_authorize_error_message=(
            ":warning: Slack did not confirm the bot's credentials just now. Nothing was changed; try again in a "
            "moment, and tell your Slack admin if this persists."
        ),
    )
    if queueing is not None:
        worker.queue_deferred(app, queueing, settings.cmo_work_queue, opens_form)
    boundary.install(app)
    interaction.install(app, deps)  # every listener's `interaction` argument (commands/interaction.py)
    Router(deps, [area.commands for area in AREAS], status.run).register(app)
    for area in AREAS:
        area.register(app)
    home.register(app)
    onboarding.register(app)  # the Import tracker shortcut (its export verb lives under /cmo program)
    file_to_program.register(app, TARGETS)  # the File to program shortcut, to the areas' targets
    return app
