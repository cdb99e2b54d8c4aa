"""The emulator refuses what Slack refuses: each rule of bot/emulator/README.md, once refused and once accepted."""

from __future__ import annotations

import copy

import pytest

from bot.emulator import blockkit


def _button(**extra) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "action_id": "go", **extra}


def _option(value: str) -> dict:
    return {"text": {"type": "plain_text", "text": value}, "value": value}


def _modal(*elements: dict, **extra) -> dict:
    blocks = [{"type": "input", "block_id": f"b{i}", "label": {"type": "plain_text", "text": "L"}, "element": e}
              for i, e in enumerate(elements)]
    return {"type": "modal", "title": {"type": "plain_text", "text": "T"},
            "submit": {"type": "plain_text", "text": "S"}, "blocks": blocks, **extra}


SELECT = {"type": "static_select", "action_id": "v", "options": [_option("a"), _option("b")]}
CONFIRM = {"title": {"type": "plain_text", "text": "Sure?"}, "text": {"type": "mrkdwn", "text": "Really"},
           "confirm": {"type": "plain_text", "text": "Yes"}, "deny": {"type": "plain_text", "text": "No"}}

REFUSED = {
    "two buttons with one action_id in a block": {"type": "home", "blocks": [
        {"type": "actions", "elements": [_button(value="0"), _button(value="1")]}]},
    "two blocks with one block_id": {"type": "home", "blocks": [
        {"type": "divider", "block_id": "x"}, {"type": "divider", "block_id": "x"}]},
    "private_metadata over 3000": {**_modal(), "private_metadata": "x" * 3001},
    "a modal title over 24": {**_modal(), "title": {"type": "plain_text", "text": "x" * 25}},
    "101 options": _modal({**SELECT, "options": [_option(str(i)) for i in range(101)]}),
    "an initial option not offered": _modal({**SELECT, "initial_option": _option("c")}),
    "a button style Slack does not have": {"type": "home", "blocks": [
        {"type": "actions", "elements": [_button(style="secondary")]}]},
    "a confirm dialog whose title is too long": {"type": "home", "blocks": [
        {"type": "actions", "elements": [_button(confirm={**CONFIRM, "title": {"type": "plain_text",
                                                                                "text": "x" * 101}})]}]},
    "max_length over 3000": _modal({"type": "plain_text_input", "action_id": "v", "max_length": 3001}),
    "min_length over max_length": _modal({"type": "plain_text_input", "action_id": "v", "min_length": 9,
                                          "max_length": 3}),
    "a date not written YYYY-MM-DD": _modal({"type": "datepicker", "action_id": "v", "initial_date": "1/2/2027"}),
    "more than 10 files": _modal({"type": "file_input", "action_id": "v", "max_files": 11}),
    "two elements focused on load": _modal({"type": "plain_text_input", "action_id": "v", "focus_on_load": True},
                                           {"type": "plain_text_input", "action_id": "v", "focus_on_load": True}),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_as_slack_refuses(case):
    rejection = blockkit.check_view(REFUSED[case])
    assert rejection is not None and rejection.error == "invalid_arguments", case


def test_the_same_views_within_the_rules_are_accepted():
    accepted = [
        {"type": "home", "blocks": [{"type": "actions", "elements": [_button(value="0", style="primary"),
                                                                     {**_button(confirm=CONFIRM), "action_id": "b"}]}]},
        {**_modal(), "private_metadata": "x" * 3000},
        _modal({**SELECT, "initial_option": copy.deepcopy(_option("b"))}),
        _modal({"type": "plain_text_input", "action_id": "v", "min_length": 3, "max_length": 3000,
                "focus_on_load": True}, {"type": "datepicker", "action_id": "v", "initial_date": "2027-01-02"},
               {"type": "file_input", "action_id": "v", "max_files": 10}),
    ]
    for view in accepted:
        assert blockkit.check_view(view) is None, view


def test_answers_to_a_view_submission_are_checked_as_slack_checks_them():
    view = _modal({"type": "plain_text_input", "action_id": "v"})  # one input block, b0
    assert blockkit.check_response_action(view, {"response_action": "errors", "errors": {"b0": "Too short"}}) is None
    for refused in ({"response_action": "errors", "errors": {"nope": "x"}},
                    {"response_action": "errors", "errors": {}},
                    {"response_action": "errors", "errors": {"b0": ""}},
                    {"response_action": "close"},
                    {"response_action": "update", "view": {**view, "private_metadata": "x" * 3001}}):
        assert blockkit.check_response_action(view, refused) is not None, refused
    assert blockkit.check_response_action(view, {"response_action": "clear"}) is None
