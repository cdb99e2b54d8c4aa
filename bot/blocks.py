"""Small Block Kit builders shared by every area, on top of slack_sdk's model classes.

They keep Slack's limits in one place (text lengths, 50 blocks a message, 100 a view) so that a long
reason or a big portfolio is shortened here instead of being rejected by Slack.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    TimePickerElement,
    UserMultiSelectElement,
    UserSelectElement,
)
from slack_sdk.models.blocks.block_elements import FileInputElement
from slack_sdk.models.views import View

from store.markup import escape

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75
TITLE_TEXT = 24
OPTION_TEXT = 75


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=clip(text, HEADER_TEXT)))


def section(text: str, accessory=None, block_id: str | None = None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_TEXT) or " "), accessory=accessory,
                        block_id=block_id)


def fields(pairs: Sequence[tuple[str, str]]) -> SectionBlock:
    """Label/value pairs shown two columns wide (at most 10, as Slack allows)."""
    return SectionBlock(fields=[MarkdownTextObject(text=clip(f"*{k}*\n{v}", 2000)) for k, v in pairs[:10]])


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_TEXT))])


def divider() -> DividerBlock:
    return DividerBlock()


def button(label: str, action_id: str, value: str = "", style: str | None = None) -> ButtonElement:
    return ButtonElement(text=clip(label, BUTTON_TEXT), action_id=action_id, value=value[:2000] or None,
                         style=style)


def actions(*elements: ButtonElement, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=list(elements)[:25], block_id=block_id)


def option(label: str, value: str) -> Option:
    return Option(text=PlainTextObject(text=clip(label, OPTION_TEXT)), value=value[:150])


def text_input(block_id: str, label: str, *, initial: str | None = None, multiline: bool = False,
               optional: bool = False, placeholder: str | None = None, hint: str | None = None,
               max_length: int | None = None) -> InputBlock:
    element = PlainTextInputElement(action_id="value", initial_value=initial or None, multiline=multiline,
                                    placeholder=placeholder, max_length=max_length)
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional, hint=hint)


def date_input(block_id: str, label: str, *, initial: date | None = None, optional: bool = False,
               hint: str | None = None) -> InputBlock:
    element = DatePickerElement(action_id="value", initial_date=initial.isoformat() if initial else None)
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional, hint=hint)


def time_input(block_id: str, label: str, *, initial: str | None = None, optional: bool = False,
               hint: str | None = None) -> InputBlock:
    """A time of day (`HH:MM`), read back by the form flattener as `selected_time`."""
    element = TimePickerElement(action_id="value", initial_time=initial)
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional, hint=hint)


def select_input(block_id: str, label: str, choices: Iterable[tuple[str, str]], *, initial: str | None = None,
                 optional: bool = False, hint: str | None = None) -> InputBlock:
    options = [option(text, value) for value, text in choices]
    chosen = next((o for o in options if o.value == initial), None)
    element = StaticSelectElement(action_id="value", options=options[:100], initial_option=chosen)
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional, hint=hint)


def grouped_select_input(block_id: str, label: str, groups: Iterable[tuple[str, Iterable[tuple[str, str]]]], *,
                         initial: str | None = None, optional: bool = False, hint: str | None = None) -> InputBlock:
    """A static select whose options sit in labelled groups (Slack: at most 100 groups of 100 options)."""
    option_groups = [OptionGroup(label=name, options=[option(text, value) for value, text in choices][:100])
                     for name, choices in groups][:100]
    chosen = next((o for g in option_groups for o in g.options or () if o.value == initial), None)
    element = StaticSelectElement(action_id="value", option_groups=option_groups, initial_option=chosen)
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional, hint=hint)


def user_input(block_id: str, label: str, *, initial: str | None = None, optional: bool = False) -> InputBlock:
    element = UserSelectElement(action_id="value", initial_user=initial)
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional)


def users_input(block_id: str, label: str, *, initial: Sequence[str] = (), optional: bool = True,
                hint: str | None = None) -> InputBlock:
    element = UserMultiSelectElement(action_id="value", initial_users=list(initial) or None)
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional, hint=hint)


def channel_input(block_id: str, label: str, *, optional: bool = True, hint: str | None = None) -> InputBlock:
    element = ConversationSelectElement(action_id="value", filter=ConversationFilter(
        include=["public", "private"], exclude_bot_users=True))
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional, hint=hint)


def checkbox_input(block_id: str, label: str, choices: Iterable[tuple[str, str]], *, optional: bool = True
                   ) -> InputBlock:
    element = CheckboxesElement(action_id="value", options=[option(t, v) for v, t in choices])
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional)


def file_input(block_id: str, label: str, *, optional: bool = True, max_files: int = 5) -> InputBlock:
    element = FileInputElement(action_id="value", max_files=max_files)
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional)


def modal(title: str, callback_id: str, blocks: Sequence[Block], *, submit: str | None = "Save",
          private_metadata: str = "") -> dict:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=clip(title, TITLE_TEXT)),
        submit=PlainTextObject(text=clip(submit, TITLE_TEXT)) if submit else None,
        close=PlainTextObject(text="Cancel"),
        blocks=list(blocks)[:VIEW_BLOCKS],
        private_metadata=private_metadata,
    )
    return view.to_dict()


def message(blocks: Sequence[Block], more: str = "…and {n} more not shown.") -> list[dict]:
    """Blocks of one message, cut to Slack's limit with a line saying how many were left out."""
    blocks = list(blocks)
    if len(blocks) > MESSAGE_BLOCKS:
        left = len(blocks) - (MESSAGE_BLOCKS - 1)
        blocks = blocks[: MESSAGE_BLOCKS - 1] + [context(more.format(n=left))]
    return [b.to_dict() for b in blocks]


def mention(user_id: str) -> str:
    return f"<@{escape(user_id)}>"


def table(rows: Sequence[Sequence[str]], header_row: Sequence[str]) -> str:
    """A monospace table for list replies; cells are escaped and clipped."""
    cells = [[clip(escape(" ".join(str(c).split())), 40) for c in row] for row in [header_row, *rows]]  # one line
    widths = [max(len(r[i]) for r in cells) for i in range(len(header_row))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "```" + "\n".join(lines) + "```"
