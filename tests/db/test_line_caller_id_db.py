"""A line's caller ID default (issue 14) set by the operator's service function reaches the call flow:
the directory's LineConfig carries it, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.directory import enrolled_lines, line_by_endpoint, line_by_number
from callrec_ari.rules.enrollment import LineRequest
from callrec_ari.rules.numbers import is_withheld

HOLDER = "ACME Trading Co."


def test_the_directory_gives_the_lines_caller_id_default(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    service.enroll_line(session, acme.id, LineRequest("09012345678", "acme-001", HOLDER))
    service.enroll_line(session, acme.id, LineRequest("09000000002", "acme-002", HOLDER))
    found = line_by_number(session, "09012345678")
    assert found is not None and not found.withhold_caller_id  # enrolled lines show their number

    line = service.set_withhold_caller_id(session, "09012345678", True)
    assert line.withhold_caller_id
    session.commit()
    found = line_by_endpoint(session, "acme-001")
    assert found is not None and found.withhold_caller_id
    assert {c.number: c.withhold_caller_id for c in enrolled_lines(session)} == {
        "09012345678": True,
        "09000000002": False,
    }
    # What the planner then decides for this line: withheld, unless 186 shows it for one call.
    assert is_withheld((), found.withhold_caller_id)
    assert not is_withheld(("186",), found.withhold_caller_id)

    service.set_withhold_caller_id(session, "09012345678", False)
    session.commit()
    found = line_by_number(session, "09012345678")
    assert found is not None and not found.withhold_caller_id
    assert is_withheld(("184",), found.withhold_caller_id)


def test_only_an_enrolled_line_is_changed(session: Session) -> None:
    acme = service.create_contract(session, HOLDER)
    service.enroll_line(session, acme.id, LineRequest("09012345678", "acme-001", HOLDER))
    service.remove_line(session, "09012345678")
    with pytest.raises(service.NotFound) as info:
        service.set_withhold_caller_id(session, "09012345678", True)
    assert info.value.error_id == "enrolled-line-not-found"
