import pytest

from store import audit, programs
from store.audit import Actor
from store.errors import Invalid, NotAllowed, NotFound
from store.programs import Role
from tests import factories
from tests.conftest import NOW

OUTSIDER = Actor("UOUT", "Olga Outsider")
APPROVER_A = Actor("UAPP1", "Alice Approver")


def test_roles_scope_access_and_hide_existence(session):
    a = factories.program(session, NOW, "ACME-001", channel="CA")
    factories.program(session, NOW, "BETA-002", channel="CB", members={Role.customer_approver: ["UBETA"]})
    assert programs.authorize(session, APPROVER_A, channel_id="CA").program.id == a.id
    with pytest.raises(NotFound) as by_code:
        programs.authorize(session, APPROVER_A, code="BETA-002")
    with pytest.raises(NotFound) as unknown:
        programs.authorize(session, APPROVER_A, code="NOPE-404")
    assert str(by_code.value) == str(unknown.value)  # no hint that BETA-002 exists
    with pytest.raises(NotFound):
        programs.authorize(session, APPROVER_A, channel_id="CB")
    assert [p.code for p in programs.visible_to(session, APPROVER_A)] == ["ACME-001"]
    assert len(programs.visible_to(session, factories.ADMIN)) == 2


def test_only_managers_change_roles(session):
    factories.program(session, NOW)
    access = programs.authorize(session, APPROVER_A, code="ACME-001")
    with pytest.raises(NotAllowed):
        access.require(Role.program_manager, doing="change roles")
    manager = programs.authorize(session, Actor("UPM1", "Pat"), code="ACME-001")
    manager.require(Role.program_manager, doing="change roles")


def test_duplicate_code_and_bad_fields_are_field_errors(session):
    factories.program(session, NOW)
    with pytest.raises(Invalid) as dup:
        factories.program(session, NOW, "acme-001", channel=None)
    assert dup.value.field == "code"
    for field, kwargs in (("code", {"code": "../etc"}), ("timezone", {"timezone": "Mars/Base"}),
                          ("holidays", {"holiday_calendar": "XX"}), ("customer", {"customer": "  "})):
        with pytest.raises(Invalid) as bad:
            programs.create(session, actor=factories.ADMIN, now=NOW, **{"code": "NEW-1", "customer": "C",
                                                                          **kwargs})
        assert bad.value.field == field


def test_every_change_is_audited(session):
    program = factories.program(session, NOW)
    programs.add_member(session, program, "UNEW", Role.regulatory, actor=factories.ADMIN, now=NOW)
    actions = [e.action for e in audit.history(session, entity="program", entity_id="ACME-001")]
    assert actions[0] == "created" and actions.count("role_granted") == 6 and "channel_linked" in actions
    assert audit.verify(session).ok


@pytest.mark.parametrize("name", ["x" * 3001, "\x00", "../../etc/passwd", "Mars/Base", ""])
def test_hostile_time_zone_names_are_field_errors(session, name):
    with pytest.raises(Invalid) as bad:
        programs.validate_timezone(name)
    assert bad.value.field == "timezone"
