"""What people outside the company may do is one declared rule (commands/access.py): every verb of the
router and every registered button, form and shortcut is walked as an external customer approver, and the
answer must be what the table says. Nothing reachable is left undeclared."""

from __future__ import annotations

import time

from bot.app import create_app
from bot.clock import Clock
from bot.settings import Settings
from commands import access
from commands.areas import AREAS
from commands.deps import Deps
from store import programs
from store.audit import AuditHead
from store.db import transaction
from tests import factories
from tests.conftest import NOW

CHANNEL = "CACME001"
GUEST = "UAPP2"  # Bob, from the customer's workspace
REFUSALS = ("Only people of the manufacturer", "Only admins (CMO_ADMINS)")


def _program(bot, engine) -> None:
    with transaction(engine) as session:
        program = factories.program(session, NOW, channel=CHANNEL)
        programs.add_member(session, program, GUEST, programs.Role.customer_approver, actor=factories.ADMIN,
                            now=NOW, external=True)
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", GUEST])


def _seq(engine) -> int:
    with transaction(engine) as session:
        return session.get(AuditHead, 1).seq


def _expected(rule: access.Rule) -> str | None:
    if rule.admin:
        return f"Only admins (CMO_ADMINS) can {rule.doing}."
    return None if rule.external else f"Only people of the manufacturer can {rule.doing}."


def _registered() -> dict[str, str]:
    app = create_app(Settings(slack_bot_token="xoxb-walk", slack_signing_secret="walk",
                              database_url="sqlite:///:memory:"))
    return app.registered  # type: ignore[attr-defined]


def test_every_verb_and_listener_is_declared():
    verbs = {(area.commands.name, verb.name) for area in AREAS for verb in area.commands.verbs} | {("status", "")}
    assert set(access.VERBS) == verbs  # none undeclared, none stale
    assert set(access.LISTENERS) == set(_registered())
    undeclared = {"type": "block_actions", "actions": [{"action_id": "nobody_declared_this"}]}
    assert not access.listener_rule(undeclared).external and not access.verb_rule("batch", "nobody").external


def test_every_verb_answers_an_external_member_as_declared(bot, engine):
    _program(bot, engine)
    before = _seq(engine)
    for (area, verb), rule in access.VERBS.items():
        kind, answer = bot.answer(bot.command(f"{area} {verb}".strip(), user=GUEST, channel=CHANNEL))
        text = answer.get("text", "") if kind == "reply" else ""  # a form opened for the guest refuses nothing
        expected = _expected(rule)
        if expected:
            assert expected in text, (area, verb, text)
        else:
            assert not any(r in text for r in REFUSALS), (area, verb, text)
    assert _seq(engine) == before  # nothing was written for (or as) the guest


def _told(bot, user: str, response) -> list[str]:
    texts = [c.args.get("text", "") for c in bot.slack.calls("response_url")
             if c.args.get("tag") == getattr(response, "response_url_tag", None)]
    texts += [c.args.get("text", "") for c in bot.slack.calls("chat.postMessage") if c.args.get("channel") == user]
    texts += [c.args.get("text", "") for c in bot.slack.calls("chat.postEphemeral") if c.args.get("user") == user]
    return texts


def _send(bot, kind: str, key: str):
    message = {"ts": "1700000000.000100", "text": "a file", "channel": CHANNEL,
               "files": [{"id": "F0WALK", "name": "walk.csv"}], "blocks": []}
    if kind == "action":
        return bot.send.block_action(GUEST, key, "1", message=message, channel_id=CHANNEL)
    if kind == "shortcut":
        return bot.send.message_shortcut(key, GUEST, CHANNEL, message)
    view = {"id": "VWALK", "type": "modal", "callback_id": key, "private_metadata": "{}", "blocks": [],
            "state": {"values": {}}}
    return bot.send.view_submission_raw(GUEST, {"view": view})


def test_every_refused_listener_refuses_an_external_member(bot, engine):
    _program(bot, engine)
    before = _seq(engine)
    for key, kind in _registered().items():
        expected = _expected(access.LISTENERS[key])
        if kind in ("command", "event") or expected is None:
            continue
        response = _send(bot, kind, key)
        assert response.status_code == 200, (key, response.text)
        deadline = time.monotonic() + 5
        while not any(expected in t for t in _told(bot, GUEST, response)) and time.monotonic() < deadline:
            time.sleep(0.02)  # waiting for the bot's process to answer
        assert any(expected in t for t in _told(bot, GUEST, response)), (key, _told(bot, GUEST, response))
    assert _seq(engine) == before
    assert bot.slack.calls("views.open") == []


def test_listeners_open_to_external_members_admit_them(engine):
    """The entries on their own items admit the guest at the door; their own checks (ownership of the
    item, approver of the batch) decide next — as the batch and submission tests show end to end."""

    with transaction(engine) as session:
        program = factories.program(session, NOW, channel=CHANNEL)
        programs.add_member(session, program, GUEST, programs.Role.customer_approver, actor=factories.ADMIN,
                            now=NOW, external=True)
    settings = Settings(slack_bot_token="xoxb-walk", slack_signing_secret="walk")
    admitted = access.admission(Deps(engine, settings, Clock(None)))
    for key, kind in _registered().items():
        rule = access.LISTENERS[key]
        if not rule.external:
            continue
        body = {"type": {"action": "block_actions", "view": "view_submission", "shortcut": "message_action",
                         "event": "event_callback", "command": None}[kind], "user": {"id": GUEST},
                "actions": [{"action_id": key}], "view": {"callback_id": key}, "callback_id": key,
                "event": {"type": key, "user": GUEST}}
        if kind == "command":
            body = {"command": key, "user_id": GUEST}
        admitted(body)  # no refusal
