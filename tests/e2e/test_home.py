"""App Home over HTTP: each role gets a view within Slack's limits, scoped to their own programs."""

from store.db import transaction
from tests import factories
from tests.conftest import NOW


def _open_home(bot, user: str) -> dict:
    response = bot.send.event({"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"})
    assert response.status_code == 200
    bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == user)
    view = bot.slack.home_view(user)
    assert view is not None and len(view["blocks"]) <= 100
    return view


def _texts(view: dict) -> str:
    return "\n".join((b.get("text") or {}).get("text", "") for b in view["blocks"])


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
