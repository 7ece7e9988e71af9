"""Demo data for ``callrec portal --create-demo``: one contract with the demo lines 1001-1004 (the SIP
accounts `make run` prints) and a file connection to the reference receiver `make run` starts, a second
contract to show isolation, and one account per role."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from callrec_ari.contracts import service
from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.portal.auth.actions import create_user, password_matches
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, OPERATOR, PortalUser
from callrec_ari.rules.enrollment import LineRequest

DEMO_HOLDER = "Demo Trading Co."
OTHER_HOLDER = "Other Logistics Ltd."
# The reference receiver of `make run` (scripts/run-demo.sh: callrec receiver --port 8089 --secret ...,
# config/demo.toml): each contract's recordings go to its own file connection, so the demo has one.
DEMO_RECEIVER_URL = "http://127.0.0.1:8089/recordings"
DEMO_RECEIVER_SECRET = "demo-secret"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    login: str
    password: str
    role: str


DEMO_LOGINS = (
    DemoLogin("admin@demo.example", "demo-admin-pass", CUSTOMER_ADMIN),
    DemoLogin("operator@carrier.example", "demo-operator-pass", OPERATOR),
    DemoLogin("admin@other.example", "other-admin-pass", CUSTOMER_ADMIN),
)


def _contract(session: Session, holder: str) -> Contract:
    found = session.scalars(select(Contract).where(Contract.holder_name == holder)).first()
    return found or service.create_contract(session, holder)


def create_demo(session: Session) -> list[DemoLogin]:
    """Idempotent: running it again changes nothing that exists."""
    demo, other = _contract(session, DEMO_HOLDER), _contract(session, OTHER_HOLDER)
    for n in (1001, 1002, 1003, 1004):
        number = f"0900000{n}"
        existing = session.scalars(
            select(Line).where(Line.number == number, Line.removed_at.is_(None))
        ).first()
        if existing is None:
            service.enroll_line(
                session,
                demo.id,
                LineRequest(number=number, endpoint=str(n), holder_name=DEMO_HOLDER, services=()),
                # The demo records from the first call; stop a line in the portal to see the difference.
                recording_started=True, consent=True,
            )
    has_file_connection = session.scalars(
        select(Connection.id).where(
            Connection.contract_id == demo.id, Connection.type == "file", Connection.removed_at.is_(None)
        )
    ).first()
    if has_file_connection is None:  # one the demo's administrator changed or replaced is left alone
        service.enroll_connection(session, demo.id, "file", DEMO_RECEIVER_URL, DEMO_RECEIVER_SECRET)
    for item in DEMO_LOGINS:
        if session.scalars(select(PortalUser).where(PortalUser.login == item.login)).first() is None:
            contract_id = None if item.role == OPERATOR else (demo.id if "demo" in item.login else other.id)
            create_user(session, item.login, item.password, role=item.role, contract_id=contract_id)
    return list(DEMO_LOGINS)


def published_logins(session: Session) -> list[str]:
    """The demo logins that still open with their published password (enabled ones): a portal
    outside demo mode refuses to serve them (rules/secrets.py)."""
    found = []
    for item in DEMO_LOGINS:
        user = session.scalars(select(PortalUser).where(PortalUser.login == item.login)).first()
        if user is not None and not user.disabled and password_matches(user.password_hash, item.password):
            found.append(item.login)
    return found


__all__ = ["DEMO_HOLDER", "DEMO_LOGINS", "DEMO_RECEIVER_SECRET", "DEMO_RECEIVER_URL", "DemoLogin",
           "create_demo", "published_logins"]
