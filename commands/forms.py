"""One flattener for `view.state.values`: `{block_id: value}` for every input type we use.

Handlers validate the flat dict with pydantic and never walk Slack's nested state by hand. A field
error from pydantic, and any domain error from the store, becomes `response_action: errors` on the right block
(`submit`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from slack_sdk.web import SlackResponse, WebClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from commands import after
from commands.deps import Deps
from commands.interaction import Interaction
from store import receipts, work
from store.db import is_busy
from store.errors import DomainError, Invalid

M = TypeVar("M", bound=BaseModel)


def _element_value(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
        return element.get("value")
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "timepicker":
        return element.get("selected_time")
    if kind == "datetimepicker":
        return element.get("selected_date_time")
    if kind in ("static_select", "external_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value")
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        return [o.get("value") for o in element.get("selected_options") or []]
    if kind == "users_select":
        return element.get("selected_user")
    if kind == "multi_users_select":
        return element.get("selected_users") or []
    if kind in ("conversations_select", "channels_select"):
        return element.get("selected_conversation") or element.get("selected_channel")
    if kind == "file_input":
        return element.get("files") or []
    return element.get("value")


def flatten(view: dict[str, Any]) -> dict[str, Any]:
    """`{block_id: value}`; empty strings read as None so optional fields validate as absent."""
    flat: dict[str, Any] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        for element in actions.values():
            value = _element_value(element if isinstance(element, dict) else {})
            flat[block_id] = None if value == "" else value
    return flat


def field_errors(exc: ValidationError | DomainError, known: set[str], fallback: str) -> dict[str, str]:
    """Errors keyed by block id; an error about no known field — and a refusal (not allowed, not there,
    changed meanwhile) — lands on `fallback` so it is still seen."""
    if isinstance(exc, DomainError):
        field = exc.field if isinstance(exc, Invalid) else None
        return {field if field in known else fallback: str(exc)[:150]}
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else fallback
        message = error["msg"].removeprefix("Value error, ")
        errors.setdefault(name if name in known else fallback, message[:150])
    return errors


# Who submits the form being handled, and when: the request's interaction, set by the error boundary around
# every view_submission listener (`submit` is called deep inside a listener; its receipt needs both).
SUBMITTER: ContextVar[Interaction | None] = ContextVar("submitter", default=None)
BUSY_FIELD = "The bot is busy writing other changes; nothing was saved. Press the button again in a moment."


def submit(ack: Callable[..., None], view: dict[str, Any], model: type[M], act: Callable[[M], Any],
           fallback: str, *, receipt_claimed_by_act: bool = False) -> Any:
    """Validate, then act; bad input is answered on the fields before anything is written.

    `act` runs before the ack so every domain error it raises — bad input the store found (a code already
    taken), a refusal, a record changed meanwhile — is answered on the form, nothing saved. It must be quick
    (database work only, whose waits are bounded: a busy database is answered on the form before Slack's 3
    seconds). A form is acted on once, keyed by its view and the person: submitted again
    (Slack timed out while the first one committed, or a double click) it closes without a second change.
    Returns what `act` returned, or None when refused or already done. What comes after the ack the listener
    hands to the workers (`commands.after.later`): the acknowledging process does no more. An act that writes
    names it inside the transaction of its write (`later(..., session=session)`), so that both commit together;
    without workers it runs here right after the ack, if that transaction committed — a refusal's too (a
    signing lockout committed before the form is answered).
    `receipt_claimed_by_act`: `act`, done in one transaction, writes the form's receipt first thing in it
    (`receipts.claim`), which saves the transaction that would read it before (store/receipts.py).
    """
    known = {block["block_id"] for block in view.get("blocks", []) if block.get("block_id")}
    who = SUBMITTER.get()
    result: Any = None
    answer: dict[str, Any] = {}  # the ack's: a closed form, or its fields' errors
    with after.after_ack() as committed:
        try:
            parsed = model.model_validate(flatten(view))
            if who is None or not view.get("id"):
                result = act(parsed)
            else:
                with receipts.once(who.deps.engine, receipts.key_of(view["id"], who.user_id), who.now,
                                   claimed_by_act=receipt_claimed_by_act):
                    result = act(parsed)
        except receipts.AlreadySubmitted:  # a Conflict, but nothing to correct: the change is recorded
            result = None  # (found as its transaction committed: a concurrent twin's was first)
        except (ValidationError, DomainError) as exc:
            result, answer = None, {"response_action": "errors", "errors": field_errors(exc, known, fallback)}
        except (OperationalError, SATimeoutError) as exc:
            if not is_busy(exc):
                raise
            result, answer = None, {"response_action": "errors", "errors": {fallback: BUSY_FIELD}}
    ack(**answer)
    for follow_up in committed:
        follow_up()
    return result


def seal(deps: Deps, purpose: str, *parts: str) -> str:
    """An HMAC binding what a form was opened with (who, where, which files) to this bot's secret, so a
    client that alters `private_metadata` cannot make the bot act on things the person was never shown."""
    key = (deps.settings.slack_signing_secret or deps.settings.slack_bot_token or "").encode()
    return hmac.new(key, "|".join((purpose, *parts)).encode(), hashlib.sha256).hexdigest()


def is_sealed(mac: str, deps: Deps, purpose: str, *parts: str) -> bool:
    return hmac.compare_digest(mac, seal(deps, purpose, *parts))


def metadata(view: dict[str, Any], model: type[M]) -> M:
    """What Slack hands back in `private_metadata`, validated: a tampered value is refused, not trusted."""
    try:
        return model.model_validate(json.loads(view.get("private_metadata") or "{}"))
    except (ValueError, ValidationError):
        raise Invalid("This form's data was altered; open it again from Slack.") from None


class OpenedFromQueue(RuntimeError):
    """A form asked for by a request queued with the others, not with the requests that may open forms: its
    listener is not declared `form=True` (commands/access.py). Slack accepts a trigger_id for three seconds
    after the click, and such a request may wait longer than that behind a backlog."""


def open_form(client: WebClient, trigger_id: str, view: dict[str, Any]) -> SlackResponse:
    """Open `view` as a modal for the click or command whose `trigger_id` asked for it. A worker opens a form
    only for a request from its deployment's forms queue, which workers take before any other
    (bot/worker.py): a listener missing the declaration fails in every test that opens its form, not only when
    the queue is long. A form Slack refused because the bot was too busy to open it within the three seconds
    is explained to the person (`commands.boundary.explain`)."""
    running = work.RUNNING.get()
    if running is not None and not running.form:
        raise OpenedFromQueue("a form was asked for by a request not queued as one that opens forms: declare "
                              "its listener (or verb) form=True in commands/access.py")
    return client.views_open(trigger_id=trigger_id, view=view)
