"""Stability notations through the real `serve`: conditions and time points as labs write them are read the same
in `/cmo stability pulled` and the new-study form as in results files and the tracker importer."""

from __future__ import annotations

from datetime import UTC, datetime

from store.db import transaction
from store.stability import service as stability
from tests import factories
from tests.stability_factories import study as make_study

CREATED = datetime(2027, 1, 20, 15, tzinfo=UTC)
CHANNEL = "CACME001"


def _program_with_study(bot, engine) -> int:
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "UQA1", "USTAB1"])
    with transaction(engine) as session:
        program = factories.program(session, CREATED, channel=CHANNEL, status_cadence="off")
        return make_study(session, program, CREATED, time_points={"LT25": [0, 3, 6], "ACC40": [0, 3, 6]}).id


def _pulled(engine, study_id: int) -> dict[tuple[str, int], str]:
    with transaction(engine) as session:
        return {(p.condition, p.months): p.pulled_on.isoformat() for p in stability.pulls_of(session, study_id)
                if p.pulled_on}


def test_pulled_takes_the_condition_and_time_point_as_labs_write_them(bot, engine):
    study_id = _program_with_study(bot, engine)
    bot.clock.set(datetime(2027, 8, 2, 15, tzinfo=UTC))  # placed 31 Jan: the 6-month pulls are due 31 Jul
    reply = bot.ask("stability pulled STB-0001 25/60 6M", user="USTAB1", channel=CHANNEL)
    assert "STB-0001 LT25 6-month pull recorded as pulled on Mon 2 Aug 2027" in reply, reply
    reply = bot.ask("stability pulled STB-0001 40°C/75%RH T6 --date 2027-07-30", user="USTAB1", channel=CHANNEL)
    assert "ACC40 6-month pull recorded" in reply, reply
    reply = bot.ask("stability pulled STB-0001 25 °C / 60 % RH 3 months --date 2027-04-30", user="USTAB1",
                    channel=CHANNEL)
    assert "LT25 3-month pull recorded" in reply, reply
    reply = bot.ask('stability pulled STB-0001 "40C/75RH" 3 m --date 2027-04-29', user="USTAB1", channel=CHANNEL)
    assert "ACC40 3-month pull recorded" in reply, reply
    assert _pulled(engine, study_id) == {("LT25", 6): "2027-08-02", ("ACC40", 6): "2027-07-30",
                                         ("LT25", 3): "2027-04-30", ("ACC40", 3): "2027-04-29"}

    # what the study does not have is named plainly, with what it has; nothing is recorded
    reply = bot.ask("stability pulled STB-0001 30/65 0", user="USTAB1", channel=CHANNEL)
    assert "'30/65' is not a condition of STB-0001; its conditions are LT25" in reply and "ACC40" in reply
    reply = bot.ask("stability pulled STB-0001 25/60 9M", user="USTAB1", channel=CHANNEL)
    assert "STB-0001 has no 9-month pull at LT25; its time points there are 0, 3, 6 months" in reply
    reply = bot.ask("stability pulled STB-0001 25/60 six", user="USTAB1", channel=CHANNEL)
    assert "'six' is not a time point" in reply and "Usage: `/cmo stability pulled" in reply
    assert len(_pulled(engine, study_id)) == 4


def test_a_bare_time_point_list_applies_to_the_one_condition_ticked(bot, engine):
    bot.slack.add_channel(CHANNEL, "acme-001", members=["UPM1", "USTAB1"])
    with transaction(engine) as session:
        factories.program(session, CREATED, channel=CHANNEL, status_cadence="off")
    bot.clock.set(CREATED)
    bot.command("stability new", user="USTAB1", channel=CHANNEL)
    bot.slack.wait_for("views.open")
    body = bot.submit("USTAB1", {"product": "Acmezol", "conditions": ["ACC40", "LT25"], "duration": "12",
                                 "placed": "2027-01-31", "timepoints": "0, 1M, 3M"}).json()
    assert body["response_action"] == "errors" and "With several conditions" in body["errors"]["timepoints"]
    assert bot.submit("USTAB1", {"product": "Acmezol", "conditions": ["ACC40"], "duration": "12",
                                 "placed": "2027-01-31", "timepoints": "T0, 1M, 3 months, 6m"}).text in ("", "{}")
    bot.slack.wait_for("chat.postMessage", lambda c: "Stability study" in c.args.get("text", ""))
    with transaction(engine) as session:
        program = factories.programs.by_code(session, "ACME-001")
        study = stability.get_study(session, program.id, "STB-0001")
        assert [(p.condition, p.months) for p in stability.pulls_of(session, study.id)] == [
            ("ACC40", 0), ("ACC40", 1), ("ACC40", 3), ("ACC40", 6)]
