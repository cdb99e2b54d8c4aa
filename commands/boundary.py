"""How errors become answers: domain errors become the right ephemeral reply; anything else gets a
correlation id that is logged with the traceback and shown to the person, never the traceback itself.

Errors are caught in four places: `install` (Bolt's error handler) and `guard` (around every listener, in its
thread), which answer with `interactive_error`; the /cmo router's catch (commands/router.py), which answers
with `explain`; and `forms.submit` (commands/forms.py), which puts a form's bad input on its fields."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from pydantic import ValidationError
from slack_bolt import Ack, App, BoltRequest
from slack_bolt.kwargs_injection import Args, build_required_kwargs
from slack_bolt.util.utils import get_name_for_callable
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import IntegrityError, OperationalError

from commands.args import UsageError
from commands.deps import Deps
from commands.forms import SUBMITTER
from commands.interaction import KEY as INTERACTION
from commands.interaction import Interaction
from store.db import is_busy
from store.errors import Conflict, DomainError, Invalid, NotAllowed, NotFound

log = logging.getLogger("cmo_bot.errors")

BUSY = ":hourglass: The bot is busy writing other changes right now. Nothing was changed; try again in a moment."
ICONS = {NotFound: ":mag:", NotAllowed: ":no_entry:", Conflict: ":warning:", Invalid: ":x:"}


def explain(error: Exception) -> str:
    """The text a person sees for an error raised by a listener."""
    if isinstance(error, UsageError):
        usage = getattr(error, "usage", None)
        return f":x: {error}" + (f"\nUsage: `{usage}`" if usage else "")
    if isinstance(error, DomainError):
        icon = next((i for kind, i in ICONS.items() if isinstance(error, kind)), ":x:")
        return f"{icon} {error}"
    if isinstance(error, ValidationError):  # a tampered button value or form field that failed validation
        return ":x: That request carried data the bot cannot accept. Open it again from Slack."
    if is_busy(error):
        log.warning("database busy: %s", type(getattr(error, "orig", error)).__name__)
        return BUSY
    if isinstance(error, IntegrityError):  # a race the services' locks did not foresee: no traceback for it
        log.warning("write conflict: %s", type(error.orig).__name__)
        return (":warning: Someone changed the same record at the same moment. Nothing was changed; look again "
                "and try once more.")
    if isinstance(error, OperationalError):
        log.warning("database unavailable: %s", type(error.orig).__name__)
        return ":hourglass: The database is not answering right now. Nothing was changed; try again shortly."
    ref = uuid.uuid4().hex[:8]
    if isinstance(error, SlackApiError) and error.response.get("error") == "expired_trigger_id":
        return (":hourglass: The bot was too busy to open the form within the three seconds Slack allows. "
                "Nothing was changed; try again.")
    if isinstance(error, SlackApiError):
        code = error.response.get("error") or f"HTTP {error.response.status_code}"
        log.warning("Slack API error [ref %s]: %s", ref, code)
        return f":warning: Slack refused a call the bot made (`{code}`, ref `{ref}`). Try again in a moment."
    log.error("unexpected error [ref %s]: %s", ref, type(error).__name__, exc_info=error)
    return f":boom: Something went wrong on our side (ref `{ref}`). Nothing was changed; please try again."


def tell(client: Any, body: dict[str, Any], text: str, respond: Any = None) -> None:
    """Reach the person wherever the request came from: response_url, else an ephemeral, else a DM."""
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
    try:
        if respond is not None and (body.get("response_url") or body.get("response_urls")
                                    or (body.get("container") or {}).get("type") == "message"):
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif channel and user:
            client.chat_postEphemeral(channel=channel, user=user, text=text)
        elif user:
            client.chat_postMessage(channel=user, text=text)
    except SlackClientError:
        log.exception("could not tell %s about an error", user)


def install(app: App) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any], client: Any, respond: Any = None) -> None:
        tell(client, body or {}, interactive_error(error), respond)


NOT_THERE = ":mag: That is not there, or not yours to act on. Use the command again from Slack."


def interactive_error(error: Exception) -> str:
    """What a button, form or shortcut answers. Every "not found" reads the same — whether the id it carries
    does not exist or belongs to someone else's program — so ids in buttons reveal nothing."""
    return NOT_THERE if isinstance(error, NotFound) else explain(error)


# What may run after its acknowledgement, elsewhere: a slash command, a button and a shortcut are acknowledged
# empty (the answer goes to the response_url or a DM, a modal is opened by trigger_id), and an event and a
# form closed without submitting need no answer. A form's submission is not deferred: its acknowledgement
# carries the field errors, known only once its action (the write) has run. What its listener does after that
# ack it hands to the workers itself (commands/after.py). The acknowledging process answers only once its
# listener has returned (bot/app.py), so whatever is not deferred delays the ack by all it does.
DEFERRABLE = frozenset({"command", "action", "shortcut", "event", "view_closed"})


def acknowledge(ack: Callable[..., Any]) -> None:
    """The acknowledgement of a deferred listener: nothing but `ack()`."""
    ack()


class Queue(Protocol):
    """Where a deferred listener's request goes for the process that only acknowledges (bot/worker.py's
    `Queueing`): `put` returns once it is stored for a worker, which runs it as the lazy listener `name`."""

    def put(self, app: App, listener: Callable[..., Any], name: str, request: BoltRequest) -> None: ...


class GuardedApp(App):
    """The Bolt app whose every listener runs inside the boundary, wrapped where it is registered — by
    `command`, `action`, `view`, `view_closed`, `shortcut` and `event`, the ways the project registers
    listeners (one more way must be wrapped here too). Inside the boundary:

    - `admitted(body)` runs first and raises when the person may not use the entry at all (the declared rule
      of commands/access.py); the listener then never runs;
    - a form submission's listener knows who submits it and when (`commands.forms.SUBMITTER`, the request's
      `Interaction`: a form is acted on once);
    - the listener's errors are answered here, in its own thread, and its acknowledgement is kept. Bolt's
      thread runner erases an acknowledgement when a listener raises after ack() (tests/unit/test_boundary.py
      shows it), so a listener failing within milliseconds of acking would leave Slack with a 404
      ("unhandled request") instead of the 200 it was promised; an app that processes before it responds
      (bot/app.py, acknowledging for workers) would answer 500. There the listener's thread is the one that
      answers: the person is told, then the ack leaves (tests/unit/test_ack_path.py).

    The wrapper asks Bolt for its documented `args` (every argument a listener may take, and every value of
    the request's context, such as the `interaction` of commands/interaction.py) and hands the listener the
    ones it names, the way Bolt would (`build_required_kwargs`). A listener may be a `functools.partial` with
    its leading arguments bound (`partial(on_x, targets)`): it names the rest, and its function names it in the
    logs.
    """

    def __init__(self, *args: Any, deps: Deps | None = None,
                 admitted: Callable[[dict[str, Any]], None] | None = None,
                 deferred: frozenset[str] = frozenset(), **kwargs: Any):
        self.deps = deps  # for the CLI's servers and scheduler (a form's submitter is its Interaction)
        self.admitted = admitted
        self.deferred = deferred  # the kinds (of DEFERRABLE) whose work runs after the ack, as lazy listeners
        self.queue: Queue | None = None  # given by `queue_deferred`, before any listener is registered
        super().__init__(*args, **kwargs)

    def queue_deferred(self, queue: Queue) -> None:
        """From now on, a listener of a deferred kind is not registered as a lazy listener but queued by its
        ack function (`_queued`): this app only acknowledges, and workers run the queued requests."""
        self.queue = queue

    def command(self, command: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._guarding(super().command(self.declare("command", command), *args, **kwargs), "command")

    def action(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._guarding(super().action(self.declare("action", constraints), *args, **kwargs), "action")

    def view(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._guarding(super().view(self.declare("view", constraints), *args, **kwargs))

    def view_closed(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        # declared with the view it closes: the same callback_id
        return self._guarding(super().view_closed(constraints, *args, **kwargs), "view_closed")

    def shortcut(self, constraints: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._guarding(super().shortcut(self.declare("shortcut", constraints), *args, **kwargs), "shortcut")

    def event(self, event: Any, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        return self._guarding(super().event(self.declare("event", event), *args, **kwargs), "event")

    def declare(self, kind: str, key: Any) -> Any:
        """Each listener's kind and id as it is registered (commands.access.DeclaredApp records them)."""
        return key

    def _guarding(self, register: Callable[..., Any], kind: str = "") -> Callable[..., Any]:
        """Bolt's registration, handed the listener inside the boundary. Returns the listener itself, as
        Bolt's decorators do. A listener of a `deferred` kind becomes Bolt's lazy listener behind an ack that
        does nothing else (a worker runs it: bot/worker.py) — or, in an app that only acknowledges (`queue`), behind
        an ack function that queues the request first."""

        def registering(listener: Callable[..., Any], *lazy: Callable[..., Any]) -> Callable[..., Any]:
            if kind in self.deferred and not lazy:
                guarded = self._guarded(listener)
                register(acknowledge, guarded) if self.queue is None else register(self._queued(self.queue, guarded))
            else:
                register(self._guarded(listener), *lazy)
            return listener

        return registering

    def _queued(self, queue: Queue, guarded: Callable[..., Any]) -> Callable[..., Any]:
        """The ack function of a deferred listener where workers run it: the request queued, then `ack()`, so
        it is stored before its acknowledgement leaves. Queued here, not started by Bolt as a lazy listener
        after the ack function: Bolt copies a request for its lazy listeners (decoded again, then deep-copied
        with its context and Web API client), a third of a slash command's time in this process, for a copy
        the queue does not read. A worker's app registers the listener lazily (the kinds are `deferred`
        there too, with no queue) and runs it by this name."""
        name = get_name_for_callable(guarded)

        def queued(request: BoltRequest, ack: Ack) -> None:
            queue.put(self, guarded, name, request)
            ack()

        return queued

    def _guarded(self, listener: Callable[..., Any]) -> Callable[..., Any]:
        names = inspect.getfullargspec(inspect.unwrap(listener)).args  # what Bolt injects arguments by

        def guarded(args: Args) -> Any:
            body = args.body or {}
            interaction: Interaction | None = args.context.get(INTERACTION)  # put there by its middleware
            token = None
            if body.get("type") == "view_submission" and interaction is not None:
                token = SUBMITTER.set(interaction)
            try:
                if self.admitted is not None:
                    self.admitted(body)
                return listener(**build_required_kwargs(
                    logger=args.logger, required_arg_names=list(names), request=args.request,
                    response=args.response, this_func=listener, next_keys_required=False))
            except Exception as error:
                if args.ack.response is None:
                    args.ack()
                tell(args.client, body, interactive_error(error), args.respond)
                return None
            finally:
                if token is not None:
                    SUBMITTER.reset(token)

        named = listener.func if isinstance(listener, partial) else listener
        for name in ("__module__", "__name__", "__qualname__"):  # Bolt's logs name the listener
            setattr(guarded, name, getattr(named, name, getattr(guarded, name)))
        return guarded
