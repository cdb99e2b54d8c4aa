"""The boundary around every listener (commands.boundary.GuardedApp), through Bolt's own dispatch: the
door's check runs before the listener, a failure after the ack keeps the ack and is told, a form's
listener knows who submits it. And the Bolt behaviour that makes the boundary keep the ack itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.emulator import SlackEmulator
from commands import interaction
from commands.boundary import GuardedApp, explain
from commands.forms import SUBMITTER
from store.errors import NotAllowed

USER, CHANNEL = "UPM1", "CACME001"


class Inline(Executor):
    """Runs each listener to its end before Bolt starts waiting for its ack: no race, one outcome."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to the future, as an executor does
            future.set_exception(error)
        return future


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        emulator.add_user(USER, "pm")
        emulator.add_channel(CHANNEL, "acme-001", members=[USER, "U0CMOBOT"])
        yield emulator


def _told(slack: SlackEmulator) -> list[str]:
    return [c.args["text"] for c in slack.calls("chat.postEphemeral") if c.args.get("user") == USER]


def _app(slack: SlackEmulator, cls: type[App] = GuardedApp, **kwargs: Any) -> App:
    return cls(client=WebClient(base_url=slack.url, token="xoxb-test"), token_verification_enabled=False,
               request_verification_enabled=False, process_before_response=False, listener_executor=Inline(),
               **kwargs)


def _press(app: App) -> BoltResponse:
    body = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": USER}, "channel": {"id": CHANNEL},
            "container": {"type": "view"}, "actions": [{"action_id": "press", "value": "1"}]}
    return app.dispatch(BoltRequest(body=body, mode="socket_mode"))


def test_bolt_erases_an_ack_when_its_listener_raises_after_acking(slack):
    """Bolt 1.30's thread runner sets the ack's response to None when a listener raises after ack(); a
    request whose listener failed before Bolt looked at its ack is answered 404 after waiting out the ack's
    3 seconds. When this test fails, Bolt keeps the ack: GuardedApp may leave the telling to the app's
    error handler (boundary.install) instead of catching in the listener's thread."""

    app = _app(slack, App)

    @app.action("press")
    def on_press(ack) -> None:
        ack()
        raise RuntimeError("after the ack")

    assert _press(app).status == 404


def test_a_listener_failing_after_its_ack_keeps_the_ack_and_the_person_is_told(slack):
    app = _app(slack)

    @app.action("press")
    def on_press(ack, action: dict[str, Any]) -> None:
        assert action["value"] == "1"  # the listener's own arguments, by name, as Bolt hands them
        ack()
        raise RuntimeError("after the ack")

    assert _press(app).status == 200
    [told] = _told(slack)
    assert told.startswith(":boom: Something went wrong on our side (ref `")


def test_a_person_refused_at_the_door_never_reaches_the_listener(slack):
    ran: list[str] = []

    def admitted(body: dict[str, Any]) -> None:
        raise NotAllowed(f"Only people of the manufacturer can press {body['actions'][0]['action_id']}.")

    app = _app(slack, admitted=admitted)

    @app.action("press")
    def on_press(ack) -> None:
        ran.append("listener")
        ack()

    assert _press(app).status == 200
    assert ran == []
    assert _told(slack) == [":no_entry: Only people of the manufacturer can press press."]


def test_a_form_listener_knows_who_submits_it_and_when_and_only_while_it_runs(slack):
    """From the request's interaction: commands.forms.submit keys its receipt with the person and stamps it with
    the request's `now` (the clock is read once, by the middleware)."""
    deps = SimpleNamespace(clock=Clock("2026-12-03T09:30:00Z"))
    seen: list[Any] = []
    app = _app(slack, deps=deps)
    interaction.install(app, deps)

    @app.view("form")
    def on_form(ack) -> None:
        seen.append(SUBMITTER.get())
        ack()

    body = {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": USER},
            "view": {"id": "V1", "type": "modal", "callback_id": "form", "state": {"values": {}}}}
    assert app.dispatch(BoltRequest(body=body, mode="socket_mode")).status == 200
    [submitter] = seen
    assert submitter.deps is deps and submitter.user_id == USER
    assert submitter.now == datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    assert SUBMITTER.get() is None


def test_registering_returns_the_listener_itself(slack):
    app = _app(slack)

    def on_press(ack) -> None:
        ack()

    assert app.action("press")(on_press) is on_press


def test_a_listener_with_its_deps_bound_gets_them_and_the_arguments_it_names(slack):
    """The areas register module-level functions with their deps bound (`partial(on_x, deps)`): the boundary
    hands on what the rest of the signature names, and still keeps the ack of one that fails."""
    seen: list[Any] = []
    app = _app(slack)

    def on_press(deps: object, ack, action: dict[str, Any]) -> None:
        seen.append((deps, action["value"]))
        ack()
        raise RuntimeError("after the ack")

    app.action("press")(partial(on_press, "deps"))

    assert _press(app).status == 200
    assert seen == [("deps", "1")]
    [told] = _told(slack)
    assert told.startswith(":boom: Something went wrong on our side (ref `")


def test_a_form_slack_refused_as_too_late_is_explained_as_that():
    late = SlackApiError("expired", {"ok": False, "error": "expired_trigger_id"})
    assert explain(late) == (":hourglass: The bot was too busy to open the form within the three seconds Slack "
                             "allows. Nothing was changed; try again.")
