"""Personal calendar feeds end to end: the link from `/cmo calendar`, the feed fetched over HTTP from the
running `serve` and parsed back with `icalendar`, each kind of event with its dates, SEQUENCE after a date
changed in Slack, nothing of programs the person holds no role on, reset, 304, and the program feed. The
feed is served by `serve` on its port and by `socket` on its health port (`@BOTH_TRANSPORTS`)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from icalendar import Calendar
from sqlmodel import select

from store import programs
from store.db import transaction
from store.feed_events import PAST_DAYS
from store.programs import Role
from store.stability import service as stability
from store.submissions import service as subs
from tests import factories
from tests.calendar_factories import every_kind_of_date
from tests.conftest import NOW
from tests.e2e.harness import BOTH_TRANSPORTS, PUBLIC_URL

CHANNEL = "CACME001"
NEW_YORK = ZoneInfo("America/New_York")
TODAY = NOW.date()
MEMBERS = {Role.program_manager: ["UPM1"], Role.cmo_quality: ["UQA1"], Role.stability: ["USTAB1"],
           Role.regulatory: ["URA1"]}  # and UAPP2, a customer approver outside the company
# Review calls at 10:00 in New York on either side of the start of daylight saving time (14 Mar 2027).
BEFORE_DST, AFTER_DST = datetime(2027, 3, 12, 10, 0), datetime(2027, 3, 16, 10, 0)


def _portfolio(bot, engine) -> None:
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UQA1", "URA1", "UAPP2", bot.slack.bot_user_id])
    with transaction(engine) as session:
        acme = factories.program(session, NOW, members=MEMBERS)
        programs.add_member(session, acme, "UAPP2", Role.customer_approver, actor=factories.ADMIN, now=NOW,
                            external=True)
        beta = factories.program(session, NOW, "BETA-001", channel="CBETA001",
                                 members={Role.program_manager: ["UOUT"]})
        acme_submission = every_kind_of_date(session, acme, calls=(BEFORE_DST, AFTER_DST))
        every_kind_of_date(session, beta, calls=(BEFORE_DST, AFTER_DST))
        first = subs.item(session, acme_submission, 1)
        subs.assign(session, entry=first, owner="UAPP2", actor=factories.ADMIN, now=NOW)


def _token(text: str) -> str:
    found = re.search(r"/calendar/([A-Za-z0-9_-]+)\.ics", text)
    assert found, text
    return found.group(1)


def _base(bot) -> str:
    """Where the bot serves HTTP besides Slack's requests: serve's port, or socket's health port."""
    return bot.process.health_url.removesuffix("/healthz")


def _fetch(bot, token: str, **headers: str) -> requests.Response:
    return requests.get(f"{_base(bot)}/calendar/{token}.ics", headers=headers, timeout=10)


def _events(response: requests.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def _of(found: dict, prefix: str, code: str = "ACME-001") -> list:
    return [e for uid, e in found.items() if uid.startswith(prefix) and str(e["SUMMARY"]).startswith(code)]


def test_feed_holds_every_kind_of_date_of_the_persons_programs_only(bot, engine):
    _portfolio(bot, engine)
    text = bot.ask("calendar", user="UPM1")
    token = _token(text)
    assert f"{PUBLIC_URL}/calendar/{token}.ics" in text and f"webcal://{PUBLIC_URL[8:]}/calendar/{token}.ics" in text
    response = _fetch(bot, token)
    found = _events(response)
    calendar = Calendar.from_ical(response.content)
    assert "CMO deadlines" in str(calendar["X-WR-CALNAME"]) and "private" in response.headers["Cache-Control"]

    with transaction(engine) as session:
        acme = programs.by_code(session, "ACME-001")
        pulls = session.exec(select(stability.StabilityPull).where(stability.StabilityPull.program_id == acme.id)).all()
    held = [p for p in pulls if p.closes_on >= TODAY - timedelta(days=PAST_DAYS)]
    assert 0 < len(held) < len(pulls)  # the 0-month pull, 200 days ago, is past the feed's window
    feed_pulls = _of(found, "pull-")
    assert len(feed_pulls) == len(held)
    for pull in held:  # all-day, spanning the window (DTEND exclusive), the pull date in the description
        event = found[f"pull-{pull.id}@cmo-bot"]
        assert event.decoded("DTSTART") == pull.opens_on
        assert event.decoded("DTEND") == pull.closes_on + timedelta(days=1)
        assert f"Pull date: {pull.due_on:%Y-%m-%d}" in str(event["DESCRIPTION"])
        assert "STB-0001 LT25" in str(event["SUMMARY"]) and f"{pull.months}M" in str(event["SUMMARY"])
        state = "missed" if pull.closes_on < TODAY else "planned"
        assert f"({state})" in str(event["SUMMARY"])
    assert any("(missed)" in str(e["SUMMARY"]) for e in feed_pulls)

    expiry, = _of(found, "agreement-expiry-")
    notice, = _of(found, "agreement-notice-")
    assert expiry.decoded("DTSTART") == TODAY + timedelta(days=300)
    assert notice.decoded("DTSTART") == TODAY + timedelta(days=210)
    release, = _of(found, "batch-release-")
    assert release.decoded("DTSTART") == TODAY + timedelta(days=130)
    filing, = _of(found, "submission-filing-")
    assert filing.decoded("DTSTART") == TODAY + timedelta(days=60)
    documents = _of(found, "submission-item-")
    assert documents and all(isinstance(d.decoded("DTSTART"), date) for d in documents)

    calls = sorted(_of(found, "review-call-"), key=lambda e: e.decoded("DTSTART"))
    assert [c.decoded("DTSTART").replace(tzinfo=None) for c in calls] == [BEFORE_DST, AFTER_DST]
    assert all(str(c.decoded("DTSTART").tzinfo) == "America/New_York" for c in calls)
    assert "TZID=America/New_York" in response.text and "BEGIN:VTIMEZONE" in response.text
    utc_hours = [c.decoded("DTSTART").astimezone(ZoneInfo("UTC")).hour for c in calls]
    assert utc_hours == [15, 14]  # EST, then EDT
    assert calls[0].decoded("DTEND") - calls[0].decoded("DTSTART") == timedelta(minutes=45)

    for event in found.values():  # each names its program and links to its channel
        assert "Program: ACME-001" in str(event["DESCRIPTION"])
        assert str(event["URL"]).endswith(f"channel={CHANNEL}")
    assert not _of(found, "", "BETA-001")  # no role on BETA-001: none of its events

    beta = _events(_fetch(bot, _token(bot.ask("calendar", user="UOUT"))))
    assert beta and all(str(e["SUMMARY"]).startswith("BETA-001") for e in beta.values())
    assert not set(beta) & set(found)


def test_external_person_sees_only_their_own_items(bot, engine):
    _portfolio(bot, engine)
    found = _events(_fetch(bot, _token(bot.ask("calendar", user="UAPP2", channel=CHANNEL))))
    kinds = {uid.split("@")[0].rsplit("-", 1)[0] for uid in found}
    assert kinds == {"batch-release", "review-call", "submission-item"}  # no pulls, agreements, filing dates
    documents = [e for uid, e in found.items() if uid.startswith("submission-item-")]
    with transaction(engine) as session:
        owned = subs.item(session, session.exec(select(subs.Submission)).first(), 1)
    assert [str(d["UID"]) for d in documents] == [f"submission-item-{owned.id}@cmo-bot"]  # only the one asked of them


@BOTH_TRANSPORTS
def test_date_changed_in_slack_raises_sequence_and_unchanged_feed_is_304(bot, engine):
    _portfolio(bot, engine)
    token = _token(bot.ask("calendar", user="UPM1"))
    first = _fetch(bot, token)
    again = _fetch(bot, token, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    before = _events(first)
    with transaction(engine) as session:
        item_id = subs.item(session, session.exec(select(subs.Submission)).first(), 2).id
    uid = f"submission-item-{item_id}@cmo-bot"
    moved = TODAY + timedelta(days=40)
    assert "now due" in bot.ask(f"submission due SUB-001 2 {moved:%Y-%m-%d}", user="UPM1", channel=CHANNEL)
    changed = _fetch(bot, token, **{"If-None-Match": first.headers["ETag"]})
    after = _events(changed)
    assert after[uid].decoded("DTSTART") == moved
    assert int(after[uid]["SEQUENCE"]) > int(before[uid]["SEQUENCE"])
    unchanged = [u for u in before if u != uid]
    assert all(after[u]["SEQUENCE"] == before[u]["SEQUENCE"] for u in unchanged)
    assert _fetch(bot, token, **{"If-None-Match": changed.headers["ETag"]}).status_code == 304


@BOTH_TRANSPORTS
def test_reset_token_gets_404_and_program_feed_holds_that_program_alone(bot, engine):
    _portfolio(bot, engine)
    with transaction(engine) as session:  # UPM1 also manages BETA-001 here
        programs.add_member(session, programs.by_code(session, "BETA-001"), "UPM1", Role.program_manager,
                            actor=factories.ADMIN, now=NOW)
    old = _token(bot.ask("calendar", user="UPM1"))
    assert _token(bot.ask("calendar", user="UPM1")) == old  # the same link, every time it is asked for
    program_feed = _token(bot.ask("calendar program", user="UPM1", channel=CHANNEL))
    only = _events(_fetch(bot, program_feed))
    assert only and all(str(e["SUMMARY"]).startswith("ACME-001") for e in only.values())
    assert "ACME-001" in str(Calendar.from_ical(_fetch(bot, program_feed).content)["X-WR-CALNAME"])

    new = _token(bot.ask("calendar reset", user="UPM1"))
    assert new != old
    for revoked in (old, program_feed, "A" * 43):
        gone = _fetch(bot, revoked)
        assert gone.status_code == 404 and gone.content == b"not found"
    assert _fetch(bot, new).status_code == 200
    assert not any(old in line or new in line for line in bot.process.output)  # tokens are never logged


def test_app_home_shows_the_same_link(bot, engine):
    _portfolio(bot, engine)
    token = _token(bot.ask("calendar", user="USTAB1"))
    response = bot.send.event({"type": "app_home_opened", "user": "USTAB1", "channel": "D0HOME", "tab": "home"})
    assert response.status_code == 200
    bot.slack.wait_for("views.publish", lambda c: c.args.get("user_id") == "USTAB1")
    assert f"/calendar/{token}.ics" in str(bot.slack.home_view("USTAB1")["blocks"])
