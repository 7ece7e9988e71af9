"""What the portal shows of a contract's accounts: plain dicts, through a Scope (never a password hash)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callrec_ari.portal.auth.actions import MIN_PASSWORD
from callrec_ari.portal.auth.models import PortalUser
from callrec_ari.portal.contracts.queries import contract_dict
from callrec_ari.portal.tenancy import Scope


def user_dict(user: PortalUser, scope: Scope) -> dict[str, Any]:
    return {
        "login": user.login,
        "name": user.display_name,
        "disabled": user.disabled,
        "is_self": user.id == scope.user_id,
    }


def users_page(session: Session, scope: Scope, contract_id: int) -> dict[str, Any]:
    contract = scope.contract(session, contract_id)
    rows = session.scalars(
        select(PortalUser).where(PortalUser.contract_id == contract.id).order_by(PortalUser.login)
    )
    return {
        "contract": contract_dict(contract),
        "users": [user_dict(u, scope) for u in rows],
        "min_password": MIN_PASSWORD,
    }


__all__ = ["user_dict", "users_page"]
