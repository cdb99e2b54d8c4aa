"""`/cmo <area> <verb> [arguments]`: a declarative table per area, one router, generated help.

The router acks first (Slack allows 3 seconds), then parses, then hands the request to the verb.
Unknown areas and verbs get the help that fits, never silence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlmodel import Session

from bot import people as slack_people
from commands import access as rules
from commands import people
from commands.args import Args, UsageError, parse, split
from commands.boundary import explain
from commands.deps import Deps
from commands.interaction import Interaction
from store import programs
from store.audit import SYSTEM, Actor
from store.db import transaction
from store.errors import NotFound
from store.programs import Access, authorize


@dataclass
class Request:
    """One `/cmo` invocation, parsed: who, where, and the arguments after `<area> <verb>`."""

    deps: Deps
    client: WebClient
    respond: Callable[..., Any]
    body: dict[str, Any]
    args: Args
    now: datetime
    name: str | None = None  # the printed name (commands.people), learnt after the ack

    @property
    def user_id(self) -> str:
        return self.body["user_id"]

    @property
    def channel_id(self) -> str:
        return self.body.get("channel_id", "")

    @property
    def trigger_id(self) -> str:
        return self.body.get("trigger_id", "")

    @property
    def actor(self) -> Actor:
        name = self.name or self.body.get("user_name") or self.user_id
        return Actor(self.user_id, name, self.deps.is_admin(self.user_id))

    def access(self, session: Session) -> Access:
        """The program of `--program CODE`, else of this channel, if the caller may act on it."""
        code = self.args.flag("program")
        return authorize(session, self.actor, code=code, channel_id=None if code else self.channel_id)

    def session(self):
        return transaction(self.deps.engine)

    def reply(self, text: str, blocks: Sequence[dict] | None = None) -> None:
        self.respond(text=text, blocks=list(blocks) if blocks else None, response_type="ephemeral")

    def post(self, text: str, blocks: Sequence[dict] | None = None) -> None:
        """Visible to the whole channel (announcements the program should see) — only in the program's own
        channel: with `--program A` anywhere else (another program's channel, #general) it stays ephemeral,
        so A's records never show where A's people are not."""
        code = self.args.flag("program")
        if code:
            with self.session() as session:
                program = programs.by_code(session, code)
                here = program is not None and program.channel_id == self.channel_id
            if not here:
                self.reply(text, blocks)
                return
        self.respond(text=text, blocks=list(blocks) if blocks else None, response_type="in_channel")

    def enforce(self, rule: rules.Rule) -> None:
        """The verb's declared rule (commands/access.py), before the verb runs. A caller Slack has not
        classified yet is looked up again first (they count as outside the company until it answers)."""
        with self.session() as session:
            if not programs.unclassified(session, self.user_id):
                self._admit(session, rule)
                return
        slack_people.classify(self.deps.engine, self.client, [self.user_id], actor=SYSTEM, now=self.now,
                              home_team=self.body.get("team_id"))
        with self.session() as session:
            self._admit(session, rule)

    def _admit(self, session: Session, rule: rules.Rule) -> None:
        """A request about a program the caller cannot see is left to the verb, whose answer ("no program
        here") is the same for every such program; roles are checked on the program the request is about,
        when there is one (cross-program verbs check their own scope)."""
        try:
            access: Access | None = self.access(session)
        except NotFound:
            access = None
            if self.args.flag("program") or programs.by_channel(session, self.channel_id):
                return
        rule.check(self.actor, programs.is_outsider(session, self.user_id))
        if access is not None:
            rule.check_roles(access)


@dataclass(frozen=True)
class Verb:
    name: str
    usage: str
    summary: str
    run: Callable[[Request], None]
    switches: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Area:
    name: str
    summary: str
    verbs: Sequence[Verb] = field(default_factory=tuple)
    default: str = ""  # the verb of `/cmo <area>` alone (e.g. `/cmo calendar`), if any

    def verb(self, name: str) -> Verb | None:
        return next((v for v in self.verbs if v.name == name), None)


def area_help(area: Area) -> str:
    lines = [f"*/cmo {area.name}* — {area.summary}"]
    lines += [f"• `{v.usage}` — {v.summary}" for v in area.verbs]
    return "\n".join(lines)


def overall_help(areas: Sequence[Area]) -> str:
    lines = ["*/cmo* — the CMO program bot. `/cmo <area> <verb> [arguments]`; `/cmo help <area>` for details."]
    lines += [f"• `/cmo {a.name}` — {a.summary} (verbs: {', '.join(v.name for v in a.verbs)})" for a in areas]
    lines.append("• `/cmo status` — in a program's channel: what the bot will send there in the next 14 days; "
                 "elsewhere or with `--all [--sort urgency|deadline|code]`: your portfolio, with a CSV")
    lines.append("In a program's channel commands act on that program; elsewhere add `--program CODE`.")
    return "\n".join(lines)


class Router:
    def __init__(self, deps: Deps, areas: Sequence[Area], status: Callable[[Request], None]):
        self.deps = deps
        self.areas = {a.name: a for a in areas}
        self.status = status

    def register(self, app: App) -> None:
        app.command("/cmo")(self.handle)

    def handle(self, ack: Callable[..., Any], body: dict[str, Any], client: WebClient, respond: Callable[..., Any],
               interaction: Interaction) -> None:
        ack()
        try:
            self.dispatch(body, client, respond, interaction.now)
        except Exception as error:  # the boundary for commands: every error becomes a reply
            respond(text=explain(error), response_type="ephemeral")

    def dispatch(self, body: dict[str, Any], client: WebClient, respond: Callable[..., Any],
                 now: datetime) -> None:
        """Run `/cmo <words>` as of `now`: the request's (commands/interaction.py)."""
        words = split(body.get("text") or "")
        make = lambda rest: Request(self.deps, client, respond, body, rest, now,  # noqa: E731
                                    people.learn(self.deps, client, body["user_id"]))
        if not words or words[0] in ("help", "-h", "--help"):
            topic = self.areas.get(words[1]) if len(words) > 1 else None
            text = area_help(topic) if topic else overall_help(list(self.areas.values()))
            respond(text=text, response_type="ephemeral")
            return
        if words[0] == "status":
            request = make(parse(words[1:], frozenset({"all"})))
            request.enforce(rules.verb_rule("status", ""))
            self.status(request)
            return
        area = self.areas.get(words[0].lower())
        if area is None:
            raise UsageError(f"There is no area `{words[0][:40]}`.\n" + overall_help(list(self.areas.values())))
        verb = area.verb(words[1].lower()) if len(words) > 1 else area.verb(area.default)
        if verb is None:
            said = f"`{words[1][:40]}` is not a verb of {area.name}." if len(words) > 1 else "Which verb?"
            raise UsageError(f"{said}\n{area_help(area)}")
        try:
            request = make(parse(words[2:], verb.switches))
            request.enforce(rules.verb_rule(area.name, verb.name))
            verb.run(request)
        except UsageError as error:
            error.usage = verb.usage  # type: ignore[attr-defined]
            raise
