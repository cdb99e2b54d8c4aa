"""The one listener context (commands.interaction), through Bolt's own dispatch: the global middleware puts an
`Interaction` in the request's context and Bolt hands it to every listener that names it, in a plain Bolt app
as in the guarded one; `now` is read once per request; the person is read from the directory only when a
listener asks, once; `authorize` is the one preamble."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient

from bot.clock import Clock
from bot.emulator import SlackEmulator
from bot.settings import Settings
from commands import interaction as context
from commands.boundary import GuardedApp
from commands.deps import Deps
from commands.interaction import Interaction
from store import people
from store import programs as program_store
from store.audit import Actor
from store.db import transaction
from store.errors import NotAllowed, NotFound
from store.programs import Role
from tests.statements import counted

NOW = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
USER, CHANNEL = "UPM1", "CACME001"


class CountingClock(Clock):
    def __init__(self) -> None:
        super().__init__(NOW.isoformat())
        self.reads = 0

    def now(self) -> datetime:
        self.reads += 1
        return super().now()


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        emulator.add_user(USER, "pat")
        yield emulator


def _deps(engine: Any) -> Deps:
    return Deps(engine, Settings(_env_file=None, slack_signing_secret="s", cmo_admins=["UADMIN"]), CountingClock())


def _app(slack: SlackEmulator, deps: Deps, cls: type[App] = App) -> App:
    app = cls(client=WebClient(base_url=slack.url, token="xoxb-test"), token_verification_enabled=False,
              request_verification_enabled=False, process_before_response=True)
    context.install(app, deps)
    return app


def _press(app: App, user: str = USER) -> int:
    body = {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": user, "username": "pat"},
            "channel": {"id": CHANNEL}, "actions": [{"action_id": "press", "value": "1"}]}
    return app.dispatch(BoltRequest(body=body, mode="socket_mode")).status


@pytest.mark.parametrize("cls", [App, GuardedApp])
def test_every_listener_that_names_it_gets_the_interaction_with_now_read_once(engine, slack, cls):
    deps = _deps(engine)
    seen: list[Interaction] = []
    app = _app(slack, deps, cls)

    @app.action("press")
    def on_press(ack, interaction: Interaction) -> None:
        ack()
        seen.append(interaction)
        assert interaction.now == interaction.now == NOW

    assert _press(app) == 200
    [got] = seen
    assert (got.deps, got.user_id, got.team_id, got.channel_id) == (deps, USER, "T1", CHANNEL)
    assert deps.clock.reads == 1  # type: ignore[attr-defined]


def test_a_slash_command_payload_gives_the_same_person(engine, slack):
    deps = _deps(engine)
    seen: list[Interaction] = []
    app = _app(slack, deps)

    @app.command("/cmo")
    def on_cmo(ack, interaction: Interaction) -> None:
        ack()
        seen.append(interaction)

    body = {"command": "/cmo", "text": "help", "user_id": USER, "user_name": "pat", "team_id": "T1",
            "channel_id": CHANNEL}
    assert app.dispatch(BoltRequest(body=body, mode="socket_mode")).status == 200
    assert seen[0].user_id == USER and seen[0].team_id == "T1" and seen[0].actor.name == "pat"


def test_the_person_is_read_from_the_directory_once_and_only_when_asked(engine):
    deps = _deps(engine)
    with transaction(engine) as session:
        people.remember(session, USER, "Pat Manager", NOW)
    asked = Interaction(deps, NOW, {"id": USER, "username": "pat"})
    assert asked.actor == Actor(USER, "Pat Manager", False)
    with transaction(engine) as session:
        people.remember(session, USER, "Renamed Since", NOW)
    assert asked.actor.name == "Pat Manager"  # one request, one person
    assert Interaction(deps, NOW, {"id": "UADMIN"}).actor == Actor("UADMIN", "UADMIN", True)


def test_authorize_is_the_one_preamble(engine):
    deps = _deps(engine)
    with transaction(engine) as session:
        program_store.create(session, actor=Actor("UADMIN", "Admin", True), now=NOW, code="ACME-001",
                             customer="Acme", products="", timezone="UTC", status_cadence="weekly",
                             holiday_calendar="", members={Role.program_manager: [USER]}, external=frozenset())
    pm = Interaction(deps, NOW, {"id": USER})
    with transaction(engine) as session:
        access = pm.authorize(session, code="ACME-001", internal="log agreements", roles=(Role.program_manager,),
                              doing="log agreements")
        assert access.program.code == "ACME-001"
        with pytest.raises(NotAllowed, match="Only regulatory contacts of ACME-001 can start a submission"):
            pm.authorize(session, code="ACME-001", roles=(Role.regulatory,), doing="start a submission")
        with pytest.raises(NotFound):
            Interaction(deps, NOW, {"id": "USTRANGER"}).authorize(session, code="ACME-001")


def test_authorize_names_the_person_in_its_one_read(engine):
    """The program, the person's roles on it and their printed name are one statement: a form's submission
    authorizes before its ack, and the person's name is not a read of its own (their handle when the
    directory has none; an admin's access to a program without a role there alike)."""
    deps = _deps(engine)
    with transaction(engine) as session:
        program_store.create(session, actor=Actor("UADMIN", "Admin", True), now=NOW, code="ACME-001",
                             customer="Acme", products="", timezone="UTC", status_cadence="weekly",
                             holiday_calendar="", members={Role.program_manager: [USER, "UNEW"]},
                             external=frozenset())
        people.remember(session, USER, "Pat Manager", NOW)
    for user, named in (({"id": USER, "username": "pat"}, Actor(USER, "Pat Manager", False)),
                        ({"id": "UNEW", "username": "newbie"}, Actor("UNEW", "newbie", False)),
                        ({"id": "UADMIN", "username": "root"}, Actor("UADMIN", "root", True))):
        who = Interaction(deps, NOW, user)
        with transaction(engine) as session, counted(engine) as statements:
            access = who.authorize(session, code="ACME-001")
            assert (access.actor, who.actor_in(session), who.actor) == (named, named, named)
        assert len([s for s in statements if not s.startswith("BEGIN")]) == 1, statements
