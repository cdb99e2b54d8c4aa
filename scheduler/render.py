"""Turn an outbox row into the message Slack receives (fallback text + Block Kit)."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock

from store.markup import day
from store.outbox import Outbox

SECTION_LIMIT = 3000


def render(row: Outbox, late: bool) -> tuple[str, list[dict]]:
    text = row.text
    if late:
        text = f"{text}\n_Late: this was due on {day(row.due_on)}; the bot could not send it then._"
    chunks = [text[i : i + SECTION_LIMIT] for i in range(0, len(text), SECTION_LIMIT)] or [" "]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=chunk)) for chunk in chunks[:45]]
    if row.buttons:
        blocks.append(ActionsBlock(elements=[
            ButtonElement(text=b["label"], action_id=b["action_id"], value=b["value"], style=b.get("style"))
            for b in row.buttons[:25]
        ]))
    if late:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Due {day(row.due_on)} · sent late")]))
    return text[:40000], [b.to_dict() for b in blocks]
