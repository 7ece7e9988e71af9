"""Customer Control and the operator console (R4, R2.7, R5.4, R5.5): an aiohttp web application with
server-rendered pages and a JSON API (/api/v1, OpenAPI at /api/openapi.json). See docs/portal.md.

Importing this package registers its tables (and the notices table) on ``callrec_ari.db.Base.metadata``.
"""

from callrec_ari.notices.models import NoticeUpload
from callrec_ari.portal.models import LoginAttempt, PortalSession, PortalUser

__all__ = ["LoginAttempt", "NoticeUpload", "PortalSession", "PortalUser"]
