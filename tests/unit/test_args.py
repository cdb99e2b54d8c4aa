from datetime import date

import pytest

from commands.args import UsageError, iso_date, parse, split, user_id


def test_words_flags_and_quotes():
    args = parse(split('B-1042 "needs a second look" --release-by 2027-01-31 --draft'), frozenset({"draft"}))
    assert args.words == ["B-1042", "needs a second look"]
    assert args.flag("release-by") == "2027-01-31"
    assert args.switch("draft") is True


def test_smart_quotes_from_slack_clients_group_words():
    assert split("hold B-1 \u201cwaiting for QA\u201d") == ["hold", "B-1", "waiting for QA"]


def test_unclosed_quote_is_usage_error():
    with pytest.raises(UsageError, match="quote"):
        split('approve "B-1042')


def test_a_nul_character_is_a_usage_error_not_a_query():
    """Pasted or fuzzed text may hold a NUL; PostgreSQL refuses it in a query, so it never gets that far."""
    with pytest.raises(UsageError, match="NUL"):
        split("agreement show \x00")


def test_unknown_flag_refused():
    with pytest.raises(UsageError, match="--colour"):
        parse(["--colour", "red"]).only("program")


@pytest.mark.parametrize("text", ["2026-02-30", "31/12/2026", "2026-1-5", "tomorrow", ""])
def test_bad_dates(text):
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        iso_date(text)


def test_leap_day():
    assert iso_date("2028-02-29") == date(2028, 2, 29)


def test_mentions():
    assert user_id("<@U0123ABC|jdoe>") == "U0123ABC"
    assert user_id("<@W0123ABC>") == "W0123ABC"
    with pytest.raises(UsageError):
        user_id("<!channel>")
