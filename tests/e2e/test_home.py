"""App Home over HTTP: each role gets a view within Slack's limits, scoped to their own programs."""

from store.db import transaction
from tests import factories
from tests.conftest import NOW
from tests.e2e.harness import BOTH_TRANSPORTS


def _open_home(bot, user: str) -> dict:
    response = bot.send.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"})
    assert response.status_code == 200
    bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == user)
    view = bot.slack.home_view(user)
    assert view is not None and len(view["blocks"]) <= 100
    return view


def _texts(view: dict) -> str:
    return "\n".join((b.get("text") or {}).get("text", "") for b in view["blocks"])


@BOTH_TRANSPORTS
def test_manager_sees_portfolio_outsiders_do_not(bot, engine):
    with transaction(engine) as session:
        factories.program(session, NOW, "ACME-001", channel="CACME001")
        factories.program(session, NOW, "BETA-002", channel="CBETA002", members={
            factories.Role.program_manager: ["UPM2"], factories.Role.customer_approver: ["UBETA"]})
    manager = _texts(_open_home(bot, "UPM1"))
    assert "Your programs" in manager and "ACME-001" in manager and "BETA-002" not in manager
    admin = _texts(_open_home(bot, "UADMIN"))
    assert "ACME-001" in admin and "BETA-002" in admin
    for user in ("UBETA", "UAPP1", "UOUT"):
        text = _texts(_open_home(bot, user))
        assert "Your programs" not in text and "ACME-001" not in text, user


def test_portfolio_status_most_urgent_first_with_csv(bot, engine):
    from datetime import date

    from store.agreements import service as agreements

    with transaction(engine) as session:
        calm = factories.program(session, NOW, "AAA-001", channel="CAAA001")
        factories.program(session, NOW, "ZED-009", channel="CZED009")  # no agreements at all: the gate is not met
        for kind in (agreements.Kind.quality, agreements.Kind.nda):
            agreements.create(session, program=calm, actor=factories.ADMIN, now=NOW, kind=kind,
                              counterparty="Acme", status=agreements.Status.executed, version="v1",
                              terms=agreements.Terms(effective_on=date(2026, 1, 1), expires_on=date(2027, 12, 31)))
    reply = bot.ask("status --all", user="UPM1")
    assert reply.index("ZED-009") < reply.index("AAA-001") and "gate not met" in reply
    by_code = bot.ask("status --sort code", user="UPM1")
    assert by_code.index("AAA-001") < by_code.index("ZED-009")
    upload = bot.slack.wait_for("files.completeUploadExternal", count=2)[-1]
    [csv_file] = [f for f in bot.slack.uploaded_files() if f["name"].startswith("portfolio-")][-1:]
    text = csv_file["bytes"].decode()
    assert text.splitlines()[0] == "program,customer,health,next deadline,needs attention"
    assert "ZED-009" in text and upload.args.get("channel_id", "").startswith("D")
    assert "portfolio is for admins and program managers" in bot.ask("status --all", user="UAPP1")
    assert "Unknown option --colour" in bot.ask("status --colour red", user="UPM1")


def _page_of(view: dict) -> str:
    return view["blocks"][0]["elements"][0]["text"].split(" · ")[0]


def _nav(view: dict) -> list[str]:
    return [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]


@BOTH_TRANSPORTS
def test_show_all_pages_through_every_page_both_ways(bot, engine):
    from store.batches import service as batches

    with transaction(engine) as session:
        program = factories.program(session, NOW, "ACME-001", channel="CACME001")
        for n in range(90):  # 40 a page: three pages, the middle one with both buttons
            batches.ready(session, program, batch_no=f"B-{n:03d}", actor=factories.ADMIN, now=NOW)
    home = _open_home(bot, "UAPP1")
    assert "Show all 90" in str(home["blocks"])
    bot.send.block_action("UAPP1", "home_show_all", view=home)
    [opened] = bot.slack.wait_for("views.open")
    assert "Gathering what you owe" in str(opened.args["view"])  # at once: what fills it follows
    [filled] = bot.slack.wait_for("views.update")
    assert filled.response["ok"] and filled.args["view_id"] == opened.response["view"]["id"], filled.response
    seen = [_page_of(bot.slack.last_view("UAPP1"))]
    for action_id, expected in (("home_page_next", 2), ("home_page_next", 3),
                                ("home_page_previous", 2), ("home_page_previous", 1)):
        view = bot.slack.last_view("UAPP1")
        bot.send.block_action("UAPP1", action_id, view=view)
        [update] = bot.slack.wait_for("views.update", count=len(seen) + 1)[len(seen):]
        assert update.response["ok"], update.response  # Slack refuses a block with two equal action_ids
        seen.append(_page_of(bot.slack.last_view("UAPP1")))
        assert seen[-1] == f"Page {expected} of 3"
        assert _nav(bot.slack.last_view("UAPP1")) == {1: ["home_page_next"], 3: ["home_page_previous"]}.get(
            expected, ["home_page_previous", "home_page_next"])
    assert seen == ["Page 1 of 3", "Page 2 of 3", "Page 3 of 3", "Page 2 of 3", "Page 1 of 3"]
