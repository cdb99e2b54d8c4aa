"""The authenticator component of signatures (store.signing) and the migration that keeps existing programs
on initials. Codes are computed with pyotp at the instant the test passes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from alembic import command

from store import programs, signing
from store.audit import Actor
from store.batches import service as batches
from store.db import make_engine, transaction
from store.errors import Invalid, NotAllowed
from store.migrate import config, upgrade
from tests import factories

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
ALICE = Actor("UAPP1", "Alice Approver")
KEY = signing.new_key()


def test_programs_that_exist_when_signing_lands_keep_initials_new_ones_sign_with_codes(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url)
    command.downgrade(config(url), "0003")  # every area's schema as it is, but for this change (0170 after 0003)
    engine = make_engine(url)
    with transaction(engine) as session:
        factories.program(session, NOW, "OLD-001", channel=None)
    upgrade(url)
    with transaction(engine) as session:
        old = programs.by_code(session, "OLD-001")
        new = factories.program(session, NOW, "NEW-002", channel=None)
        assert batches.settings_of(old).signing == "initials"
        assert batches.settings_of(new).signing == "totp"
    engine.dispose()


def test_codes_are_accepted_once_within_one_step_of_drift(session):
    secret = signing.new_secret()
    signing.enroll(session, KEY, user_id="UAPP1", secret=secret, code=pyotp.TOTP(secret).at(NOW), actor=ALICE,
                   now=NOW)
    later = NOW + timedelta(seconds=60)
    early = pyotp.TOTP(secret).at(later - timedelta(seconds=30))  # the app's clock 30 s behind: still accepted
    assert signing.check(session, KEY, actor=ALICE, code=early, now=later, doing="approve") is None
    again = signing.check(session, KEY, actor=ALICE, code=early, now=later, doing="approve")
    assert "already used" in again.message
    stale = pyotp.TOTP(secret).at(later - timedelta(seconds=90))  # three steps old: wrong
    assert "not right" in signing.check(session, KEY, actor=ALICE, code=stale, now=later, doing="approve").message


def test_without_the_key_enrollment_says_the_operator_must_set_it():
    with pytest.raises(NotAllowed, match="operator must set CMO_SECRET_KEY"):
        signing.seal_pending(None, "UAPP1", signing.new_secret(), NOW)


def test_an_enrollment_form_is_bound_to_its_person_and_expires():
    token = signing.seal_pending(KEY, "UAPP1", "JBSWY3DPEHPK3PXP", NOW)
    assert signing.open_pending(KEY, token, "UAPP1", NOW + timedelta(minutes=5)) == "JBSWY3DPEHPK3PXP"
    with pytest.raises(Invalid, match="someone else"):
        signing.open_pending(KEY, token, "UAPP2", NOW)
    with pytest.raises(Invalid, match="expired"):
        signing.open_pending(KEY, token, "UAPP1", NOW + timedelta(minutes=16))
