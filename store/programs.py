"""Programs (one customer's manufacturing program) and the roles people hold on them.

Every query a person makes is scoped through `authorize`: it answers the same "no such program" for a
code that does not exist and for one the caller has no role on, so nothing leaks between customers.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Column, String, UniqueConstraint, and_, bindparam
from sqlmodel import Field, Session, SQLModel, col, select

from store import audit, holiday_calendars
from store.audit import Actor
from store.db import JSONType, UTCDateTime, pk
from store.errors import Invalid, NotAllowed, NotFound
from store.people import Person

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,19}$")
CADENCES = ("weekly", "biweekly", "monthly", "off")
NO_ACCESS = "There is no program here that you can act on. Use `--program CODE` with a program you have a role on."


class Role(StrEnum):
    program_manager = "program_manager"
    cmo_quality = "cmo_quality"
    customer_approver = "customer_approver"
    stability = "stability"
    regulatory = "regulatory"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.program_manager: "Program managers",
    Role.cmo_quality: "CMO quality",
    Role.customer_approver: "Customer approvers",
    Role.stability: "Stability team",
    Role.regulatory: "Regulatory contacts",
}


class Program(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True, index=True)
    customer: str = Field(max_length=200)
    products: str = Field(default="", max_length=1000)
    channel_id: str | None = Field(default=None, max_length=32, unique=True)
    timezone: str = Field(default="UTC", max_length=64)
    status_cadence: str = Field(default="weekly", max_length=16)
    holiday_calendar: str = Field(default="", max_length=16)
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    active: bool = True
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id", "created_at"})


class ProgramMember(SQLModel, table=True):
    __tablename__ = "program_member"
    __table_args__ = (UniqueConstraint("program_id", "user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    user_id: str = Field(max_length=32, index=True)
    role: Role = Field(sa_type=String(32))
    external: bool = False
    # False until Slack (users.info) has said whether the person is a guest; until then they count as
    # outside the company (fail closed) and the scheduler and their next command retry the lookup.
    classified: bool = True

    @property
    def outside(self) -> bool:
        return self.external or not self.classified


@dataclass(frozen=True)
class Access:
    """A program the caller may act on, with the roles they hold there."""

    program: Program
    roles: frozenset[Role]
    actor: Actor
    external: bool = False

    def has(self, *roles: Role) -> bool:
        return self.actor.is_admin or bool(self.roles & set(roles))

    def require_internal(self, doing: str) -> None:
        """People outside the company (Slack Connect guests) act on their approvals only."""
        if self.external and not self.actor.is_admin:
            raise NotAllowed(f"Only people of the manufacturer can {doing}.")

    def require(self, *roles: Role, doing: str) -> None:
        if not self.has(*roles):
            needed = " or ".join(r.label.lower() for r in roles)
            raise NotAllowed(f"Only {needed} of {self.program.code} can {doing}.")


def validate_code(code: str) -> str:
    code = code.strip().upper()
    if not CODE_PATTERN.match(code):
        raise Invalid("Use 2–20 letters, digits and dashes, starting with a letter or digit (e.g. ACME-001).", "code")
    return code


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file path
        raise Invalid(f"{name!r} is not a time zone name such as Europe/Berlin.", "timezone") from None
    return name


def validate_holidays(calendar: str) -> str:
    """A country code, with the site's region where holidays are regional (see `store.holiday_calendars`)."""
    return holiday_calendars.validate(calendar)


def create(
    session: Session,
    *,
    actor: Actor,
    now: datetime,
    code: str,
    customer: str,
    products: str = "",
    timezone: str = "UTC",
    status_cadence: str = "weekly",
    holiday_calendar: str = "",
    members: dict[Role, list[str]] | None = None,
    external: frozenset[str] | None = frozenset(),
) -> Program:
    """A program with its members; `external=None` when nobody's side is known yet (classified later)."""
    code = validate_code(code)
    if not customer.strip():
        raise Invalid("Name the customer.", "customer")
    if status_cadence not in CADENCES:
        raise Invalid(f"Cadence must be one of {', '.join(CADENCES)}.", "cadence")
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    if session.exec(select(Program).where(Program.code == code)).first():
        raise Invalid(f"A program {code} already exists.", "code")
    program = Program(
        code=code,
        customer=customer.strip()[:200],
        products=products.strip()[:1000],
        timezone=validate_timezone(timezone),
        status_cadence=status_cadence,
        holiday_calendar=validate_holidays(holiday_calendar),
        created_at=now,
    )
    session.add(program)
    session.flush()
    audit.record(session, actor=actor, action="created", entity="program", entity_id=program.code,
                 program_id=program.id, after=program.snapshot(), now=now)
    for role, user_ids in (members or {}).items():
        for user_id in user_ids:
            add_member(session, program, user_id, role, actor=actor, now=now,
                       external=None if external is None else user_id in external)
    return program


def link_channel(session: Session, program: Program, channel_id: str, *, actor: Actor, now: datetime) -> None:
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    taken = session.exec(select(Program).where(Program.channel_id == channel_id)).first()
    if taken is not None and taken.id != program.id:
        raise Invalid("That channel already belongs to another program.", "channel")
    before = program.channel_id
    program.channel_id = channel_id
    session.add(program)
    audit.record(session, actor=actor, action="channel_linked", entity="program", entity_id=program.code,
                 program_id=program.id, before={"channel_id": before}, after={"channel_id": channel_id}, now=now)


def add_member(
    session: Session, program: Program, user_id: str, role: Role, *, actor: Actor, now: datetime,
    external: bool | None = False, reason: str = "",
) -> bool:
    """Give a role; False when the person already had it (nothing written). `external=None`: Slack has not
    said yet which side the person is on, so they count as outside the company until `mark_external`.
    `reason`: why an admin granted something the rules would not (an internal customer approver), kept in the
    audit row."""
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    exists = session.exec(
        select(ProgramMember).where(ProgramMember.program_id == program.id, ProgramMember.user_id == user_id,
                                    ProgramMember.role == role)
    ).first()
    if exists:
        return False
    session.add(ProgramMember(program_id=pk(program), user_id=user_id, role=role, external=external is not False,
                              classified=external is not None))
    audit.record(session, actor=actor, action="role_granted", entity="program", entity_id=program.code,
                 program_id=program.id, now=now, after={"user_id": user_id, "role": role.value, "external": external,
                                                        **({"reason": reason[:500]} if reason else {})})
    return True


def remove_member(session: Session, program: Program, user_id: str, role: Role, *, actor: Actor,
                  now: datetime) -> bool:
    row = session.exec(
        select(ProgramMember).where(ProgramMember.program_id == program.id, ProgramMember.user_id == user_id,
                                    ProgramMember.role == role)
    ).first()
    if row is None:
        return False
    session.delete(row)
    audit.record(session, actor=actor, action="role_revoked", entity="program", entity_id=program.code,
                 program_id=program.id, before={"user_id": user_id, "role": role.value}, now=now)
    return True


def mark_external(session: Session, program: Program, user_id: str, external: bool, *, actor: Actor,
                  now: datetime) -> None:
    """Record whether a member is outside the company (a Slack Connect guest), as Slack reports it."""
    rows = session.exec(select(ProgramMember).where(ProgramMember.program_id == program.id,
                                                    ProgramMember.user_id == user_id)).all()
    changed = [row for row in rows if row.external != external or not row.classified]
    for row in changed:
        row.external, row.classified = external, True
        session.add(row)
    if changed:
        audit.record(session, actor=actor, action="member_marked", entity="program", entity_id=program.code,
                     program_id=program.id, after={"user_id": user_id, "external": external}, now=now)


def record_side(session: Session, user_id: str, external: bool, *, actor: Actor, now: datetime) -> None:
    """What Slack said about a person, on every program they are a member of (a guest is one everywhere)."""
    program_ids = set(session.exec(select(ProgramMember.program_id).where(ProgramMember.user_id == user_id)))
    for program_id in sorted(program_ids):
        program = session.get(Program, program_id)
        if program is not None:  # a member row's program exists (foreign key)
            mark_external(session, program, user_id, external, actor=actor, now=now)


def is_external(session: Session, program_id: int, user_id: str) -> bool:
    return any(m.outside for m in session.exec(select(ProgramMember).where(
        ProgramMember.program_id == program_id, ProgramMember.user_id == user_id)))


def is_outsider(session: Session, user_id: str) -> bool:
    """Outside the company on any program (a guest is one everywhere), or not yet classified by Slack."""
    return session.exec(OUTSIDER, params={"user_id": user_id}).first() is not None


# The read of `is_outsider` (parameter `user_id`): a row when the person is outside the company on any program, or
# not yet classified by Slack (the request gate reads it on a connection of its own: commands/access.py). Built
# once, like `authorize`'s reads: building a statement and its cache key cost as much CPU as running it, before
# each form's acknowledgement.
OUTSIDER = select(ProgramMember.id).where(
    ProgramMember.user_id == bindparam("user_id"),
    (ProgramMember.external == True) | (ProgramMember.classified == False)).limit(1)  # noqa: E712


def unclassified(session: Session, user_id: str | None = None) -> list[str]:
    """Everyone (or just `user_id`) with a membership Slack has not classified yet, for the retry."""
    query = select(ProgramMember.user_id).where(ProgramMember.classified == False)  # noqa: E712
    if user_id is not None:
        query = query.where(ProgramMember.user_id == user_id)
    return sorted(set(session.exec(query)))


def members(session: Session, program_id: int, *roles: Role) -> list[ProgramMember]:
    query = select(ProgramMember).where(ProgramMember.program_id == program_id)
    if roles:
        query = query.where(col(ProgramMember.role).in_(roles))
    return list(session.exec(query.order_by(ProgramMember.role, ProgramMember.user_id)))


def user_ids(session: Session, program_id: int, *roles: Role) -> list[str]:
    """Distinct people holding any of `roles`, in a stable order."""
    return sorted({m.user_id for m in members(session, program_id, *roles)})


def active_by_id(session: Session, programs: Collection[int] | None = None) -> dict[int, Program]:
    """Every active program by id (among `programs`, when given). The due rules read their records as column rows
    carrying a program id and look the program up here: a few hundred objects per pass instead of one joined
    object per row."""
    query = within(select(Program).where(Program.active == True), Program.id, programs)  # noqa: E712
    return {pk(p): p for p in session.exec(query)}


def within(query: Any, column: Any, programs: Collection[int] | None) -> Any:
    """`query` restricted, in SQL, to the rows whose `column` (a program id) is among `programs`; None leaves it
    whole. A due rule asked about some programs only (the sweep's incremental pass, scheduler/sweep.py) reads
    their records and no others, so its cost follows what changed, not the size of the portfolio."""
    return query if programs is None else query.where(col(column).in_(sorted(programs)))


def holders(session: Session, program_ids: Iterable[int], *roles: Role) -> defaultdict[tuple[int, Role], list[str]]:
    """Who holds each of `roles` (every role when none is given) in each of `program_ids`, user ids in order: one
    query of three columns for the hundreds of programs a due rule addresses at once (the membership is unique,
    so each person appears once per role). A program or role nobody holds reads as an empty list."""
    query = select(ProgramMember.program_id, ProgramMember.role, ProgramMember.user_id).where(
        col(ProgramMember.program_id).in_(set(program_ids)))
    if roles:
        query = query.where(col(ProgramMember.role).in_(roles))
    people: defaultdict[tuple[int, Role], list[str]] = defaultdict(list)
    for program_id, role, user_id in session.exec(query.order_by(col(ProgramMember.user_id))):
        people[(program_id, Role(role))].append(user_id)
    return people


def managed_ids(session: Session, user_id: str) -> set[int]:
    """The programs this person manages (internal program managers), in one query."""
    query = select(ProgramMember.program_id).where(ProgramMember.user_id == user_id,
                                                   ProgramMember.role == Role.program_manager,
                                                   ProgramMember.external == False)  # noqa: E712
    return set(session.exec(query))


def roles_of(session: Session, program_id: int, user_id: str) -> frozenset[Role]:
    rows = session.exec(
        select(ProgramMember.role).where(ProgramMember.program_id == program_id, ProgramMember.user_id == user_id)
    )
    return frozenset(Role(r) for r in rows)


def _coded(code: str) -> Any:
    """The program whose code this is, as people type it (any case, stray spaces): one rule for every lookup."""
    return Program.code == as_typed(code)


def as_typed(code: str) -> str:
    return code.strip().upper()


def by_code(session: Session, code: str) -> Program | None:
    return session.exec(select(Program).where(_coded(code))).first()


def by_channel(session: Session, channel_id: str) -> Program | None:
    return session.exec(select(Program).where(Program.channel_id == channel_id)).first()


def authorize(session: Session, actor: Actor, *, code: str | None = None, channel_id: str | None = None) -> Access:
    """The program named (or of the channel) if the caller has a role on it or is an admin; else NotFound.

    One query, the program with the caller's roles on it joined: every listener that acts on a program asks this
    first, and a form's submission asks it before its ack (built once: `_BY_CODE`, `_BY_CHANNEL`)."""
    return authorize_named(session, actor.user_id, lambda _name: actor, code=code, channel_id=channel_id)


def authorize_named(session: Session, user_id: str, actor_of: Callable[[str | None], Actor], *,
                    code: str | None = None, channel_id: str | None = None) -> Access:
    """`authorize` for a person not named yet: `actor_of` makes them of the printed name the directory holds
    (None: it holds none), which the same query reads — a form's submission reads one statement fewer before
    its ack than with the person read first."""
    if code:
        query, named = _BY_CODE, {"code": as_typed(code)}
    elif channel_id:
        query, named = _BY_CHANNEL, {"channel_id": channel_id}
    else:
        raise NotFound(NO_ACCESS)
    found = session.exec(query, params={**named, "user_id": user_id}).all()
    if not found:
        raise NotFound(NO_ACCESS)
    program, _, real_name = found[0]
    actor = actor_of(real_name)
    rows = [member for of, member, _ in found if member is not None and of.id == program.id]
    if not rows and not actor.is_admin:
        raise NotFound(NO_ACCESS)
    return Access(program=program, roles=frozenset(Role(r.role) for r in rows), actor=actor,
                  external=any(r.outside for r in rows))


def _with_roles(named: Any) -> Any:
    """The program `named`, each of the caller's memberships of it joined, and the caller's printed name
    (parameter `user_id`)."""
    mine = and_(col(ProgramMember.program_id) == Program.id, col(ProgramMember.user_id) == bindparam("user_id"))
    return (select(Program, ProgramMember, Person.real_name).outerjoin(ProgramMember, mine)
            .outerjoin(Person, col(Person.user_id) == bindparam("user_id")).where(named).order_by(col(Program.id)))


_BY_CODE = _with_roles(Program.code == bindparam("code"))
_BY_CHANNEL = _with_roles(Program.channel_id == bindparam("channel_id"))


def visible_to(session: Session, actor: Actor) -> list[Program]:
    """Every program the caller may see: all for admins, else those they hold a role on."""
    query = select(Program).where(Program.active == True)  # noqa: E712
    if not actor.is_admin:
        mine = select(ProgramMember.program_id).where(ProgramMember.user_id == actor.user_id)
        query = query.where(col(Program.id).in_(mine))
    return list(session.exec(query.order_by(Program.code)))
