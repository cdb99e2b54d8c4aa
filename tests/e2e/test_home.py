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

    from store import agreements

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
