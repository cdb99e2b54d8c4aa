"""Who may use what: every `/cmo` verb, button, form and shortcut, declared once.

A rule says which roles may use the entry (none named: any member of the program), whether people outside
the company (Slack Connect guests, customers) may use it at all, whether it is for admins only, whether it
changes records or only reads them, and whether it may open a form (such requests go to the forms queue,
which workers take first: `opens_form`). The router enforces the rule of a verb before the verb runs
(`Router.dispatch`); `boundary.GuardedApp` enforces the rule of a listener before the listener runs, keyed by the
action_id, callback_id or event type Slack sends. An entry missing from this table is closed to people
outside the company (fail closed), and tests/e2e/test_access.py fails until it is declared: `DeclaredApp`
records every id registered, and the test compares them, and the router's verbs, with this table.

The rule for people outside the company, as users see it: they act on their own items — the batch records
they approve (approve, hold, reject, review calls, the batch's status), the submission documents they were
asked for, their App Home, their calendar feed (of those same items) — and see the list of their programs.
Everything else (records of the program, schedules, figures, settings, roles, packages, filing) is for people
of the manufacturer.

Verbs keep their own finer checks (a manager to change a setting the verb also shows, the batch store's
audited refusal of non-approvers); the table is what is enforced before them, and what the tests walk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from commands.boundary import GuardedApp
from commands.deps import Deps
from store import programs
from store.audit import Actor
from store.db import first_row
from store.errors import NotAllowed
from store.programs import Access, Role

PM, QA, APPROVER, STAB, RA = (Role.program_manager, Role.cmo_quality, Role.customer_approver, Role.stability,
                              Role.regulatory)


@dataclass(frozen=True)
class Rule:
    """Who may use one entry. `doing` completes "Only … can <doing>" in a refusal."""

    doing: str
    roles: tuple[Role, ...] = ()  # empty: any member of the program
    external: bool = False  # people outside the company may use it (their own items)
    admin: bool = False  # admins (CMO_ADMINS) only
    writes: bool = False  # changes records (else it only reads)
    audited_refusal: bool = False  # the verb checks the roles itself and audits a refused attempt
    form: bool = False  # may open a form by the request's trigger_id (`opens_form`)

    def check(self, actor: Actor, outsider: bool) -> None:
        """Refuse an admin-only entry to non-admins, and an internal entry to people outside the company."""
        if self.admin and not actor.is_admin:
            raise NotAllowed(f"Only admins (CMO_ADMINS) can {self.doing}.")
        if outsider and not self.external and not actor.is_admin:
            raise NotAllowed(f"Only people of the manufacturer can {self.doing}.")

    def check_roles(self, access: Access) -> None:
        if self.roles and not self.audited_refusal:
            access.require(*self.roles, doing=self.doing)


def _r(doing: str, *roles: Role, **kw: Any) -> Rule:
    return Rule(doing, roles, **kw)


# `/cmo <area> <verb>` → rule. `help` needs none; `status` is the one verb without an area.
VERBS: dict[tuple[str, str], Rule] = {
    ("program", "new"): _r("create programs", admin=True, writes=True, form=True),
    ("program", "list"): _r("list programs", external=True),
    ("program", "status"): _r("see a program's status"),
    ("program", "roles"): _r("see or change roles", writes=True),
    ("program", "channel"): _r("link the program's channel", writes=True),  # managers or admins (the verb)
    ("program", "export"): _r("export the program's records", PM, QA),
    ("agreement", "new"): _r("log agreements", PM, QA, writes=True, form=True),
    ("agreement", "list"): _r("see agreements"),
    ("agreement", "show"): _r("see agreements"),
    ("agreement", "redline"): _r("log redlines", PM, QA, APPROVER, writes=True),
    ("agreement", "execute"): _r("execute agreements", PM, QA, writes=True, form=True),
    ("agreement", "renew"): _r("renew agreements", PM, QA, writes=True),
    ("agreement", "reminders"): _r("see or change the reminder days", writes=True),
    ("batch", "ready"): _r("mark batch records ready for review", PM, QA, writes=True),
    ("batch", "new"): _r("mark batch records ready for review", PM, QA, writes=True, form=True),
    ("batch", "qa-release"): _r("QA-release batch records", QA, writes=True, form=True),
    ("batch", "approve"): _r("approve batch records", APPROVER, external=True, writes=True, audited_refusal=True,
                             form=True),
    ("batch", "hold"): _r("put batch records on hold", APPROVER, external=True, writes=True,
                          audited_refusal=True),
    ("batch", "reject"): _r("reject batch records", APPROVER, external=True, writes=True, audited_refusal=True,
                            form=True),
    ("batch", "resume"): _r("send batch records back to review", PM, QA, writes=True),
    ("batch", "log"): _r("list the program's batch records"),
    ("batch", "status"): _r("see a batch record's history", external=True),
    ("batch", "call"): _r("schedule review calls", APPROVER, PM, QA, external=True, writes=True),
    ("batch", "stats"): _r("see the review figures", PM, QA),
    ("batch", "settings"): _r("see or change the review settings", writes=True),
    ("stability", "new"): _r("create stability studies", STAB, PM, writes=True, form=True),
    ("stability", "list"): _r("see stability studies"),
    ("stability", "schedule"): _r("see stability schedules"),
    ("stability", "pulls"): _r("see upcoming stability pulls"),
    ("stability", "pulled"): _r("record pulls", STAB, PM, QA, writes=True),
    ("stability", "submit"): _r("submit samples to the lab", STAB, PM, QA, writes=True),
    ("stability", "results"): _r("import results", STAB, PM, QA, writes=True, form=True),
    ("stability", "report"): _r("compile stability data packages", writes=True),
    ("submission", "new"): _r("start a submission", PM, RA, writes=True, form=True),
    ("submission", "list"): _r("see submissions"),
    ("submission", "status"): _r("see submissions"),
    ("submission", "add"): _r("change a submission's checklist", PM, RA, writes=True),
    ("submission", "remove"): _r("change a submission's checklist", PM, RA, writes=True),
    ("submission", "na"): _r("change a submission's checklist", PM, RA, writes=True),
    ("submission", "assign"): _r("assign submission items", PM, RA, writes=True),
    ("submission", "due"): _r("change due dates", PM, RA, writes=True),
    ("submission", "approve"): _r("approve submission documents", QA, RA, PM, writes=True, form=True),
    ("submission", "package"): _r("package a submission", PM, RA, writes=True),
    ("calendar", "show"): _r("subscribe to your calendar feed", external=True),  # their own items only
    ("calendar", "reset"): _r("subscribe to your calendar feed", external=True, writes=True),
    ("calendar", "program"): _r("subscribe to your calendar feed", external=True),
    ("status", ""): _r("see what the bot will send"),
    # approvers outside the company sign too, so they enroll their authenticator like everyone else
    ("signing", "enroll"): _r("set up signing", external=True, writes=True, form=True),
    ("signing", "status"): _r("see your signing status", external=True),
    ("signing", "reset"): _r("reset someone's signing", admin=True, writes=True),
}

# action_id / callback_id / event type → rule. Listeners re-authorize against the record they act on (roles,
# ownership); the rule decides, before that, whether the person may use the entry at all.
LISTENERS: dict[str, Rule] = {
    "program_new": _r("create programs", admin=True, writes=True),
    "agreement_new": _r("log agreements", PM, QA, writes=True),
    "agreement_execute": _r("execute agreements", PM, QA, writes=True),
    "agreement_redline": _r("log redlines", PM, QA, APPROVER, writes=True),
    "agreement_open_redline": _r("log redlines", PM, QA, APPROVER, form=True),
    "agreement_open_execute": _r("execute agreements", PM, QA, form=True),
    "batch_qa_release": _r("QA-release batch records", QA, form=True),
    "batch_qa_release_sign": _r("QA-release batch records", QA, writes=True),
    "batch_approve": _r("approve batch records", APPROVER, external=True, form=True),
    "batch_hold": _r("put batch records on hold", APPROVER, external=True, form=True),
    "batch_reject": _r("reject batch records", APPROVER, external=True, form=True),
    "batch_call": _r("schedule review calls", APPROVER, PM, QA, external=True, form=True),
    "batch_sign": _r("approve batch records", APPROVER, external=True, writes=True),
    "batch_hold_view": _r("put batch records on hold", APPROVER, external=True, writes=True),
    "batch_reject_view": _r("reject batch records", APPROVER, external=True, writes=True),
    "batch_reject_sign": _r("reject batch records", APPROVER, external=True, writes=True),
    "batch_call_view": _r("schedule review calls", APPROVER, PM, QA, external=True, writes=True),
    "batch_new": _r("mark batch records ready for review", PM, QA, writes=True),
    "stability_new": _r("create stability studies", STAB, PM, writes=True),
    "stability_results": _r("import results", STAB, PM, QA, writes=True),
    "stability_mark_pulled": _r("record pulls", STAB, PM, QA, writes=True),
    "stability_record_and_import": _r("import results", STAB, PM, QA, writes=True),
    "submission_new": _r("start a submission", PM, RA, writes=True),
    "submission_sign_view": _r("approve submission documents", QA, RA, PM, writes=True),
    "signing_enroll_open": _r("set up signing", external=True, form=True),
    "signing_enroll": _r("set up signing", external=True, writes=True),
    # the item's owner, or managers
    "submission_attach": _r("file submission documents", external=True, form=True),
    "submission_attach_view": _r("file submission documents", external=True, writes=True),
    "file_submission_item": _r("file submission documents", external=True, form=True),
    "submission_shortcut_view": _r("file submission documents", external=True, writes=True),
    "file_to_program": _r("file documents to a program", form=True),
    "file_to_program_submit": _r("file documents to a program", writes=True),
    "import_tracker": _r("import trackers", admin=True),
    "import_tracker_run": _r("import trackers", admin=True, writes=True),
    "import_tracker_recheck": _r("import trackers", admin=True),
    "home_show_all": _r("see what you owe", external=True, form=True),
    "home_page_previous": _r("see what you owe", external=True),
    "home_page_next": _r("see what you owe", external=True),
    "app_home_opened": _r("see what you owe", external=True),
    "/cmo": _r("use /cmo", external=True),  # each verb's own rule is enforced by the router (VERBS)
}


def opens_form(body: dict[str, Any]) -> bool:
    """Whether the request may open a form. Slack accepts a trigger_id for three seconds after the click, so
    such a request goes to the deployment's forms queue, which workers take before any other (bot/worker.py)."""
    if body.get("command") == "/cmo":
        area, verb = ((body.get("text") or "").lower().split() + ["", ""])[:2]
        return verb_rule(area, verb).form
    return listener_rule(body).form


def verb_rule(area: str, verb: str) -> Rule:
    return VERBS.get((area, verb)) or Rule(f"use `/cmo {area} {verb}`", writes=True)  # undeclared: internal


def listener_key(body: dict[str, Any]) -> str:
    """The id Slack routes a request by: the slash command, action_id, callback_id, or the event's type."""
    if body.get("command"):
        return str(body["command"])
    kind = body.get("type")
    if kind == "block_actions":
        return str(((body.get("actions") or [{}])[0] or {}).get("action_id") or "")
    if kind in ("view_submission", "view_closed"):
        return str((body.get("view") or {}).get("callback_id") or "")
    if kind in ("shortcut", "message_action"):
        return str(body.get("callback_id") or "")
    if kind == "event_callback":
        return str((body.get("event") or {}).get("type") or "")
    return ""


def listener_user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or body.get("user_id") or (body.get("event") or {}).get("user")
               or "")


def listener_rule(body: dict[str, Any]) -> Rule:
    """The declared rule of the entry `body` is for; an undeclared one is closed to people outside."""
    return LISTENERS.get(listener_key(body)) or Rule("use that", writes=True)


def admission(deps: Deps, reads: Engine | None = None) -> Callable[[dict[str, Any]], None]:
    """The check `boundary.GuardedApp` runs before every listener: the database is asked only for entries that
    people outside the company may not use (nothing calls Slack here: this runs before the ack). Its one read
    is made on `reads` (default: the deps' engine) in no unit of work (`store.db.first_row`): the acknowledging
    process passes its queueing engine (bot/app.py), which pings no connection and commits each statement
    itself, so a form's check is one round trip before the form's own transaction, not four. A database
    error is raised as any listener's is, and the boundary answers it (commands/boundary.py)."""

    def admitted(body: dict[str, Any]) -> None:
        rule, user = listener_rule(body), listener_user(body)
        actor = Actor(user, user, deps.is_admin(user))
        if rule.external or rule.admin or actor.is_admin:
            rule.check(actor, outsider=False)
            return
        rule.check(actor, first_row(reads or deps.engine, programs.OUTSIDER, {"user_id": user}) is not None)

    return admitted


class DeclaredApp(GuardedApp):
    """The Bolt app, recording each registered listener's id with its kind (command, action, view, shortcut,
    event) in `registered`, so the tests can hold the table against what is reachable."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.registered: dict[str, str] = {}
        super().__init__(*args, **kwargs)

    def declare(self, kind: str, key: Any) -> Any:
        self.registered[str(key)] = kind
        return key
