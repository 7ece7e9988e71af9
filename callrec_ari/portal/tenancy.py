"""Tenant isolation, in one place (R4.2): every object a request touches is looked up through a
:class:`Scope`.

A customer administrator's scope is pinned to its contract: another contract's line, connection,
notice or audit entry is "not found" (404, the same answer as for an object that does not exist, so
nothing about other customers leaks). An operator's scope spans every contract; operator-only actions
call :meth:`Scope.require_operator`. Handlers never query customer tables without a scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from callrec_ari.contracts.models import Connection, Contract, Line
from callrec_ari.notices.models import NoticeUpload
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, OPERATOR, PortalUser
from callrec_ari.portal.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class Scope:
    user_id: int
    login: str
    role: str
    contract_id: int | None  # pinned for customers, None for operators
    locale: str | None = None  # the user's language (portal/i18n.py)

    @property
    def actor(self) -> str:
        """Who made a change, as the audit log names them."""
        return f"{self.role}:{self.login}"

    @property
    def is_operator(self) -> bool:
        return self.role == OPERATOR

    def require_operator(self) -> None:
        if not self.is_operator:
            raise Forbidden("operator-only", "this page is for the carrier's operators")

    def require_customer(self) -> int:
        """The customer's own contract id (customer pages are not for operators)."""
        if self.role != CUSTOMER_ADMIN or self.contract_id is None:
            raise Forbidden(
                "customer-only", "this page is for customer administrators; use the operator console"
            )
        return self.contract_id

    def owns(self, column: ColumnElement[int] | object) -> ColumnElement[bool]:
        """A WHERE clause limiting ``column`` (a contract_id column) to this scope."""
        if self.is_operator:
            return true()
        return column == self.contract_id  # type: ignore[return-value]

    def contract(self, session: Session, contract_id: int | None = None) -> Contract:
        wanted = contract_id if self.is_operator else self.contract_id
        found = (
            session.scalars(select(Contract).where(Contract.id == wanted, self.owns(Contract.id))).first()
            if wanted is not None
            else None
        )
        if found is None or (contract_id is not None and found.id != contract_id):
            raise NotFound("contract", contract_id if contract_id is not None else "")
        return found

    def line(self, session: Session, number: str) -> Line:
        found = session.scalars(
            select(Line).where(Line.number == number, Line.removed_at.is_(None), self.owns(Line.contract_id))
        ).first()
        if found is None:
            raise NotFound("line", number)
        return found

    def connection(self, session: Session, connection_id: int) -> Connection:
        found = session.scalars(
            select(Connection).where(
                Connection.id == connection_id,
                Connection.removed_at.is_(None),
                self.owns(Connection.contract_id),
            )
        ).first()
        if found is None:
            raise NotFound("connection", connection_id)
        return found

    def notice_upload(self, session: Session, upload_id: int) -> NoticeUpload:
        found = session.scalars(
            select(NoticeUpload).where(NoticeUpload.id == upload_id, self.owns(NoticeUpload.contract_id))
        ).first()
        if found is None:
            raise NotFound("notice", upload_id)
        return found

    def portal_user(self, session: Session, login: str) -> PortalUser:
        """A portal account of this scope's contract (an operator's scope: any account)."""
        wanted = login.strip().lower()
        found = session.scalars(
            select(PortalUser).where(PortalUser.login == wanted, self.owns(PortalUser.contract_id))
        ).first()
        if found is None:
            raise NotFound("user", wanted)
        return found


__all__ = ["Scope"]
