"""Block Kit validation with Slack's published limits.

The emulator must reject what Slack rejects, or a bot that passes every local
test still fails in a real workspace.  The limits live in two tables
(`BLOCK_RULES`, `ELEMENT_RULES`) built from small rule objects, so a limit
Slack changes is a one-line edit.  Error strings copy Slack's format,
``"must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``,
because that is what a developer greps logs for.

Limits are from the Block Kit reference on docs.slack.dev (blocks, block
elements, composition objects, views and chat.postMessage).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_BLOCK_ID = 255
TEXT_TYPES = ("plain_text", "mrkdwn")


class Problems:
    """Collects Slack-style error strings, each tagged with a JSON pointer."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, pointer: str, message: str) -> None:
        self.items.append(f"{message} [json-pointer:{pointer}]")


@dataclass(frozen=True)
class Rejection:
    """A refusal in Slack's words: an error code plus the detailed messages."""

    error: str
    messages: list[str] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.error == "invalid_blocks":
            body["errors"] = list(self.messages)
        if self.messages:
            body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in self.messages]}
        return body


# --- rules -----------------------------------------------------------------------------------------


class Rule:
    """One check on one key of a block or element."""

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        raise NotImplementedError


def _too_long(value: str, limit: int, at: str, out: Problems) -> None:
    if len(value) > limit:
        out.add(at, f"must be less than {limit + 1} characters")


def check_text_object(obj: Any, at: str, out: Problems, limit: int, plain: bool) -> None:
    """A composition text object: right type, non-empty, within `limit`."""
    if not isinstance(obj, dict):
        out.add(at, "must be an object")
        return
    kind = obj.get("type")
    if plain and kind != "plain_text":
        out.add(f"{at}/type", "must be plain_text")
    elif kind not in TEXT_TYPES:
        out.add(f"{at}/type", "must be one of plain_text, mrkdwn")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        out.add(f"{at}/text", "must be more than 0 characters")
    else:
        _too_long(text, limit, f"{at}/text", out)


@dataclass(frozen=True)
class Text(Rule):
    key: str
    limit: int
    plain: bool = False
    required: bool = False

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        if self.key not in node:
            if self.required:
                out.add(at, f"missing required field: {self.key}")
            return
        check_text_object(node[self.key], f"{at}/{self.key}", out, self.limit, self.plain)


@dataclass(frozen=True)
class Str(Rule):
    key: str
    limit: int
    required: bool = False

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        value = node.get(self.key)
        if value is None:
            if self.required:
                out.add(at, f"missing required field: {self.key}")
            return
        if not isinstance(value, str):
            out.add(f"{at}/{self.key}", "must be a string")
            return
        _too_long(value, self.limit, f"{at}/{self.key}", out)


@dataclass(frozen=True)
class Items(Rule):
    """A list with a size limit whose items are checked by `each`."""

    key: str
    limit: int
    each: Callable[[Any, str, Problems], None]
    required: bool = False
    minimum: int = 1

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        items = node.get(self.key)
        if items is None:
            if self.required:
                out.add(at, f"missing required field: {self.key}")
            return
        where = f"{at}/{self.key}"
        if not isinstance(items, list):
            out.add(where, "must be an array")
            return
        if len(items) < self.minimum:
            out.add(where, f"must provide at least {self.minimum} items")
        if len(items) > self.limit:
            out.add(where, f"no more than {self.limit} items allowed")
        for i, item in enumerate(items):
            self.each(item, f"{where}/{i}", out)


@dataclass(frozen=True)
class AnyOf(Rule):
    keys: tuple[str, ...]

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        if not any(node.get(k) for k in self.keys):
            out.add(at, f"must define either {' or '.join(f'`{k}`' for k in self.keys)}")


@dataclass(frozen=True)
class Element(Rule):
    key: str
    required: bool = False

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        if self.key not in node:
            if self.required:
                out.add(at, f"missing required field: {self.key}")
            return
        check_element(node[self.key], f"{at}/{self.key}", out)


class UniqueActionIds(Rule):
    """Slack requires action_id to be unique among the elements of one block."""

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        seen: set[str] = set()
        for i, element in enumerate(node.get("elements") or []):
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id is None:
                continue
            if action_id in seen:
                out.add(f"{at}/elements/{i}/action_id", f"duplicate action_id: {action_id}")
            seen.add(action_id)


@dataclass(frozen=True)
class OneOf(Rule):
    """A string field with a closed set of values (a button's style, a confirm dialog's style)."""

    key: str
    values: tuple[str, ...]

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        if self.key in node and node[self.key] not in self.values:
            out.add(f"{at}/{self.key}", f"must be one of {', '.join(self.values)}")


@dataclass(frozen=True)
class Number(Rule):
    """An integer field within [low, high]."""

    key: str
    low: int
    high: int

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        value = node.get(self.key)
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            out.add(f"{at}/{self.key}", "must be an integer")
        elif not self.low <= value <= self.high:
            out.add(f"{at}/{self.key}", f"must be between {self.low} and {self.high}")


class LengthBounds(Rule):
    """A text input's min_length may not exceed its max_length."""

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        low, high = node.get("min_length"), node.get("max_length")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            out.add(f"{at}/min_length", "must be less than or equal to max_length")


@dataclass(frozen=True)
class Pattern(Rule):
    """A string field in a fixed format (a date picker's YYYY-MM-DD, a time picker's HH:mm)."""

    key: str
    regex: str
    label: str

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        value = node.get(self.key)
        if value is not None and not (isinstance(value, str) and re.fullmatch(self.regex, value)):
            out.add(f"{at}/{self.key}", f"must be in the format {self.label}")


class InitialOptions(Rule):
    """Slack refuses an initial option that is not exactly one of the element's options."""

    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        offered = list(iter_options(node))
        chosen = node.get("initial_option")
        if chosen is not None and chosen not in offered:
            out.add(f"{at}/initial_option", "must match one of the provided options")
        for i, option in enumerate(node.get("initial_options") or []):
            if option not in offered:
                out.add(f"{at}/initial_options/{i}", "must match one of the provided options")


def _confirm(obj: Any, at: str, out: Problems) -> None:
    """A confirmation dialog: title 100, text 300, confirm and deny 30 characters."""
    if not isinstance(obj, dict):
        out.add(at, "must be an object")
        return
    for rule in (Text("title", 100, plain=True, required=True), Text("text", 300, required=True),
                 Text("confirm", 30, plain=True, required=True), Text("deny", 30, plain=True, required=True),
                 OneOf("style", ("primary", "danger"))):
        rule.check(obj, at, out)


@dataclass(frozen=True)
class Confirm(Rule):
    def check(self, node: dict[str, Any], at: str, out: Problems) -> None:
        if "confirm" in node:
            _confirm(node["confirm"], f"{at}/confirm", out)


CONFIRM = Confirm()
MAX_SELECTED = Number("max_selected_items", 1, 100)


def _option_checker(text_limit: int, plain: bool) -> Callable[[Any, str, Problems], None]:
    def check(option: Any, at: str, out: Problems) -> None:
        if not isinstance(option, dict):
            out.add(at, "must be an object")
            return
        Text("text", text_limit, plain=plain, required=True).check(option, at, out)
        Str("value", 150).check(option, at, out)
        Text("description", 75, plain=plain).check(option, at, out)
        Str("url", 3000).check(option, at, out)

    return check


_select_option = _option_checker(75, plain=True)
_choice_option = _option_checker(75, plain=False)  # checkboxes and radio buttons allow mrkdwn


def _option_group(group: Any, at: str, out: Problems) -> None:
    if not isinstance(group, dict):
        out.add(at, "must be an object")
        return
    Text("label", 75, plain=True, required=True).check(group, at, out)
    Items("options", 100, _select_option, required=True).check(group, at, out)


def _context_element(element: Any, at: str, out: Problems) -> None:
    if isinstance(element, dict) and element.get("type") in TEXT_TYPES:
        check_text_object(element, at, out, 3000, plain=False)
    else:
        check_element(element, at, out)


PLACEHOLDER = Text("placeholder", 150, plain=True)
_STATIC_SELECT = (
    PLACEHOLDER,
    Items("options", 100, _select_option),
    Items("option_groups", 100, _option_group),
    AnyOf(("options", "option_groups")),
    InitialOptions(),
    CONFIRM,
)
_PICKER = (PLACEHOLDER, CONFIRM)

BLOCK_RULES: dict[str, tuple[Rule, ...]] = {
    "section": (
        Text("text", 3000),
        Items("fields", 10, lambda f, at, out: check_text_object(f, at, out, 2000, plain=False)),
        Element("accessory"),
        AnyOf(("text", "fields")),
    ),
    "header": (Text("text", 150, plain=True, required=True),),
    "divider": (),
    "context": (Items("elements", 10, _context_element, required=True),),
    "actions": (Items("elements", 25, lambda e, at, out: check_element(e, at, out), required=True),
                UniqueActionIds()),
    "image": (Str("image_url", 3000), Str("alt_text", 2000, required=True), Text("title", 2000, plain=True),
              AnyOf(("image_url", "slack_file"))),
    "input": (Text("label", 2000, plain=True, required=True), Text("hint", 2000, plain=True),
              Element("element", required=True)),
    "rich_text": (Items("elements", 100, lambda e, at, out: None, required=True),),  # content not checked
    "markdown": (Str("text", 12_000, required=True),),
    "file": (Str("external_id", 255, required=True),),
    "video": (Text("title", 200, plain=True, required=True), Str("video_url", 3000, required=True),
              Str("thumbnail_url", 3000, required=True), Str("alt_text", 2000, required=True)),
}

ELEMENT_RULES: dict[str, tuple[Rule, ...]] = {
    "button": (Text("text", 75, plain=True, required=True), Str("value", 2000), Str("url", 3000),
               OneOf("style", ("primary", "danger")), CONFIRM),
    "workflow_button": (Text("text", 75, plain=True, required=True),),
    "static_select": _STATIC_SELECT,
    "multi_static_select": (*_STATIC_SELECT, MAX_SELECTED),
    "external_select": _PICKER,
    "multi_external_select": (*_PICKER, MAX_SELECTED),
    "users_select": _PICKER,
    "multi_users_select": (*_PICKER, MAX_SELECTED),
    "conversations_select": _PICKER,
    "multi_conversations_select": (*_PICKER, MAX_SELECTED),
    "channels_select": _PICKER,
    "multi_channels_select": (*_PICKER, MAX_SELECTED),
    "overflow": (Items("options", 5, _select_option, required=True), CONFIRM),
    "checkboxes": (Items("options", 10, _choice_option, required=True), InitialOptions(), CONFIRM),
    "radio_buttons": (Items("options", 10, _choice_option, required=True), InitialOptions(), CONFIRM),
    "datepicker": (*_PICKER, Pattern("initial_date", r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD")),
    "timepicker": (*_PICKER, Pattern("initial_time", r"([01]\d|2[0-3]):[0-5]\d", "HH:mm")),
    "datetimepicker": (CONFIRM,),
    "plain_text_input": (PLACEHOLDER, Str("initial_value", 3000), Number("min_length", 0, 3000),
                         Number("max_length", 1, 3000), LengthBounds()),
    "number_input": (PLACEHOLDER,),
    "email_text_input": (PLACEHOLDER,),
    "url_text_input": (PLACEHOLDER,),
    "rich_text_input": (PLACEHOLDER,),
    "file_input": (Number("max_files", 1, 10),),
    "image": (Str("image_url", 3000), Str("alt_text", 2000, required=True)),
}

_ACTION_ID = Str("action_id", 255)  # optional everywhere, limited wherever it appears


def check_element(element: Any, at: str, out: Problems) -> None:
    if not isinstance(element, dict):
        out.add(at, "must be an object")
        return
    kind = element.get("type")
    rules = ELEMENT_RULES.get(str(kind))
    if rules is None:
        out.add(f"{at}/type", f"unsupported element type: {kind}")
        return
    for rule in (*rules, _ACTION_ID):
        rule.check(element, at, out)


def check_blocks(blocks: list[Any], at: str, out: Problems, *, limit: int, allow_input: bool) -> None:
    """Every block in a message or view, plus the cross-block rules (count, unique block_id)."""
    if len(blocks) > limit:
        out.add(at, f"no more than {limit} items allowed")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"{at}/{i}"
        if not isinstance(block, dict):
            out.add(where, "must be an object")
            continue
        kind = block.get("type")
        rules = BLOCK_RULES.get(str(kind))
        if rules is None:
            out.add(f"{where}/type", f"unsupported block type: {kind}")
            continue
        if kind == "input" and not allow_input:
            out.add(f"{where}/type", "input blocks are only allowed in modals and home tabs")
        block_id = block.get("block_id")
        if block_id is not None:
            Str("block_id", MAX_BLOCK_ID).check(block, where, out)
            if block_id in block_ids:
                out.add(f"{where}/block_id", f"duplicate block_id: {block_id}")
            block_ids.add(block_id)
        for rule in rules:
            rule.check(block, where, out)


# --- entry points ------------------------------------------------------------------------------


def decode_json_arg(value: Any) -> Any:
    """Form-encoded calls carry `blocks`/`view` as JSON strings; JSON calls carry objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def check_message(text: Any, blocks: Any, attachments: Any = None) -> Rejection | None:
    """What chat.postMessage / postEphemeral / update (and response_url) would refuse."""
    blocks = decode_json_arg(blocks)
    if blocks is not None and not isinstance(blocks, list):
        return Rejection("invalid_blocks_format")
    if not text and not blocks and not attachments:
        return Rejection("no_text")
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        return Rejection("msg_too_long")
    out = Problems()
    check_blocks(blocks or [], "/blocks", out, limit=MAX_MESSAGE_BLOCKS, allow_input=False)
    return Rejection("invalid_blocks", out.items) if out.items else None


_MODAL_RULES: tuple[Rule, ...] = (
    Text("title", 24, plain=True, required=True),
    Text("submit", 24, plain=True),
    Text("close", 24, plain=True),
)
_VIEW_RULES = (Str("private_metadata", 3000), Str("callback_id", 255), Str("external_id", 255))


def check_view(view: Any, *, expected_type: str | None = None) -> Rejection | None:
    """What views.open / update / push / publish would refuse (Slack says invalid_arguments)."""
    view = decode_json_arg(view)
    at = "/view"
    out = Problems()
    if not isinstance(view, dict):
        out.add(at, "must be an object")
        return Rejection("invalid_arguments", out.items)
    kind = view.get("type")
    if kind not in ("modal", "home"):
        out.add(f"{at}/type", "must be one of modal, home")
    elif expected_type and kind != expected_type:
        out.add(f"{at}/type", f"must be {expected_type}")
    if kind == "modal":
        for rule in _MODAL_RULES:
            rule.check(view, at, out)
    for rule in _VIEW_RULES:
        rule.check(view, at, out)
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        out.add(f"{at}/blocks", "must be an array")
    else:
        check_blocks(blocks, f"{at}/blocks", out, limit=MAX_VIEW_BLOCKS, allow_input=True)
        focused = [e for _, e in iter_elements(blocks) if e.get("focus_on_load")]
        if len(focused) > 1:
            out.add(f"{at}/blocks", "only one element may set focus_on_load")
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if kind == "modal" and has_input and "submit" not in view:
            out.add(at, "must provide `submit` when the view contains input blocks")
    return Rejection("invalid_arguments", out.items) if out.items else None


RESPONSE_ACTIONS = ("errors", "update", "push", "clear")


def check_response_action(view: dict[str, Any], body: Any) -> Rejection | None:
    """What Slack refuses in the answer to a view submission (HTTP body or Socket Mode ack payload).

    ``errors`` must name input blocks of the submitted view, each with a message; ``update`` and
    ``push`` carry a view that must itself be valid.
    """
    if not isinstance(body, dict) or "response_action" not in body:
        return None
    out = Problems()
    action = body["response_action"]
    if action not in RESPONSE_ACTIONS:
        out.add("/response_action", f"must be one of {', '.join(RESPONSE_ACTIONS)}")
    elif action == "errors":
        inputs = {b.get("block_id") for b in view.get("blocks") or []
                  if isinstance(b, dict) and b.get("type") == "input"}
        errors = body.get("errors")
        if not isinstance(errors, dict) or not errors:
            out.add("/errors", "must be an object naming at least one input block")
        else:
            for block_id, message in errors.items():
                if block_id not in inputs:
                    out.add(f"/errors/{block_id}", "is not an input block of the view")
                elif not isinstance(message, str) or not message:
                    out.add(f"/errors/{block_id}", "must be a non-empty string")
    elif action in ("update", "push"):
        refused = check_view(body.get("view"), expected_type="modal")
        if refused is not None:
            return refused
    return Rejection("invalid_arguments", out.items) if out.items else None


# --- walkers shared by the sender and the transcript ----------------------------------------------


def iter_elements(blocks: list[dict[str, Any]] | None) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield (block, element) for every interactive element, wherever Slack allows one."""
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
        candidates += [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
        for element in candidates:
            if isinstance(element, dict):
                yield block, element


def iter_options(element: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from element.get("options") or []
    for group in element.get("option_groups") or []:
        yield from group.get("options") or []


def _text_of(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) else ""


def _rich_text(node: Any) -> str:
    if isinstance(node, list):
        return "".join(_rich_text(n) for n in node)
    if not isinstance(node, dict):
        return ""
    if "elements" in node:
        return _rich_text(node["elements"])
    if node.get("type") == "user":
        return f"<@{node.get('user_id')}>"
    return node.get("text") or node.get("url") or ""


def _element_label(element: dict[str, Any]) -> str:
    kind = element.get("type", "")
    if kind in ("button", "workflow_button"):
        return f"[{_text_of(element.get('text'))}]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    placeholder = _text_of(element.get("placeholder"))
    return f"[▾ {placeholder or kind}]"


def texts(blocks: list[dict[str, Any]] | None) -> list[str]:
    """The readable text of each block, in order (mrkdwn left as it is), inputs as ``label: ___``."""
    found: list[str] = []
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in ("section", "header"):
            found.append(_text_of(block.get("text")))
            found.extend(_text_of(f) for f in block.get("fields") or [])
        elif kind == "context":
            found.extend(_text_of(e) for e in block.get("elements") or [] if e.get("type") in TEXT_TYPES)
        elif kind == "rich_text":
            found.append(_rich_text(block))
        elif kind == "markdown":
            found.append(block.get("text", ""))
        elif kind == "input":
            found.append(f"{_text_of(block.get('label'))}: ___")
        elif kind == "image":
            found.append(f"[image: {block.get('alt_text', '')}]")
    return [t for t in found if t]


def controls(blocks: list[dict[str, Any]] | None) -> str:
    """The message's buttons and menus, e.g. ``[Approve] [Reject] [▾ Pick a lot]``."""
    return " ".join(_element_label(element) for block, element in iter_elements(blocks)
                    if block.get("type") != "input")


def flatten(blocks: list[dict[str, Any]] | None) -> tuple[str, str]:
    """Render blocks as (readable text, control labels) for one or two transcript lines."""
    return " · ".join(texts(blocks)), controls(blocks)
