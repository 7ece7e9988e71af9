"""Customer Control and the operator console (R4, R2.7, R5.1-R5.5): an aiohttp web application with
server-rendered pages and a JSON API (/api/v1, OpenAPI at /api/openapi.json). See docs/portal.md.

One folder per feature, each with the same roles (a role a feature does not need is absent):
``actions`` (every write: scoped, audited, never committing), ``queries`` (plain dicts for templates
and the API alike), ``pages`` (HTML views and forms, POST/redirect/GET) and ``api`` (JSON handlers).

=================  ========================================================================
folder             feature
=================  ========================================================================
``auth/``          accounts, argon2id passwords, login limits, sessions (R4.2); its tables
``lines/``         the customer's line switches: start/stop recording, consent, notice choice
``notices/``       uploaded notices (R2.7): the customer's upload, the operator's approval
``contracts/``     the contract: notice omission, connections (``connections``: their checks and
                   audited changes, for both roles) and the test file (``testsend``), deliveries,
                   charges (R6), audit log pages, the operator's contract list and suspensions
``enrollment/``    the operator's enrollment (R5.1-R5.3): contracts, lines, CSV import,
                   connections
=================  ========================================================================

Web plumbing stays apart, as top-level modules: :mod:`.app` (the app factory), :mod:`.routing` (the
routing table), :mod:`.middleware` (sessions, CSRF, errors to responses), :mod:`.network` (where
plain HTTP is allowed, a trusted proxy's word, client addresses, the portal's origin), :mod:`.state` (the
database runner and request keys), :mod:`.params` (reading input), :mod:`.errors`, :mod:`.tenancy`
(the only way to reach customer rows), :mod:`.audit`, :mod:`.openapi`, :mod:`.service_health` (the
banner), :mod:`.settings`, ``templates/``; :mod:`.demo` seeds ``callrec portal --create-demo``.

Importing this package registers its tables (and the notices table) on ``callrec_ari.db.Base.metadata``.
"""

from callrec_ari.notices.models import NoticeUpload
from callrec_ari.portal.auth.models import LoginAttempt, PortalSession, PortalUser

__all__ = ["LoginAttempt", "NoticeUpload", "PortalSession", "PortalUser"]
