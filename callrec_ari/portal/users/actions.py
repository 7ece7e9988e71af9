"""A customer administrator adds, disables and removes the portal accounts of their own contract.

The accounts are made and changed by the same functions ``callrec users`` uses
(:mod:`callrec_ari.portal.auth.actions`): the same login and password rules, and a disabled account is
logged out everywhere at once. A new account is a customer administrator of the administrator's own
contract (the only customer role). The users are found through the :class:`Scope`, so another
contract's user is "not found", exactly like a login that does not exist. Each change is audited;
the password never is.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from callrec_ari.portal import audit
from callrec_ari.portal.auth.actions import create_user, set_disabled
from callrec_ari.portal.auth.models import CUSTOMER_ADMIN, PortalSession, PortalUser
from callrec_ari.portal.errors import BadInput
from callrec_ari.portal.tenancy import Scope


def add_user(session: Session, scope: Scope, login: str, name: str, password: str) -> PortalUser:
    contract_id = scope.require_customer()
    user = create_user(session, login, password, role=CUSTOMER_ADMIN, contract_id=contract_id,
                       display_name=name.strip())
    audit.record(session, scope, "user-added", contract_id, login=user.login, name=user.display_name,
                 role=user.role)
    return user


def disable_user(session: Session, scope: Scope, login: str) -> PortalUser:
    """The user can no longer log in, and their sessions end; an administrator keeps their own account."""
    contract_id = scope.require_customer()
    user = scope.portal_user(session, login)
    if user.id == scope.user_id:
        raise BadInput("user-is-self", "you cannot disable your own account: ask another administrator "
                                       "of your contract or your carrier")
    if not user.disabled:
        set_disabled(session, user.login, True)
        audit.record(session, scope, "user-disabled", contract_id, login=user.login)
    return user


def remove_user(session: Session, scope: Scope, login: str) -> str:
    """The account and its sessions are deleted (a new one of that login starts afresh); the audit
    log keeps who it was. An administrator keeps their own account."""
    contract_id = scope.require_customer()
    user = scope.portal_user(session, login)
    if user.id == scope.user_id:
        raise BadInput("user-is-self", "you cannot remove your own account: ask another administrator "
                                       "of your contract or your carrier")
    audit.record(session, scope, "user-removed", contract_id, login=user.login)
    session.execute(delete(PortalSession).where(PortalSession.user_id == user.id))
    session.delete(user)
    session.flush()
    return login


__all__ = ["add_user", "disable_user", "remove_user"]
