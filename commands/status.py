"""`/cmo status`: for the program of the channel, what the bot will send in the next 14 days."""

from __future__ import annotations

from bot import blocks as bk
from commands.router import Request
from scheduler.preview import upcoming
from store.markup import escape, local_time

DAYS = 14


def run(req: Request) -> None:
    with req.session() as session:
        access = req.access(session)
        access.require_internal("see what the bot will send")
        program = access.program
        planned = upcoming(session, program.id, req.now, DAYS)
    if not planned:
        req.reply(f"Nothing is planned for {escape(program.code)} in the next {DAYS} days.")
        return
    lines = []
    for item in planned:
        to = "the channel" if item.target == program.channel_id else bk.mention(item.target)
        first = item.text.splitlines()[0] if item.text else item.key
        lines.append(f"• {local_time(item.at.astimezone(program.tz))} → {to}: {bk.clip(first, 200)}")
    head = f"*{escape(program.code)}: {len(planned)} message(s) planned in the next {DAYS} days*"
    blocks = [bk.section(head)] + [bk.section(line) for line in lines]
    req.reply("\n".join([head, *lines]), bk.message(blocks))
