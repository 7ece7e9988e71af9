"""Database: declarative base, models, engine/session factory, migrations (Alembic,
``callrec_ari/db/migrations/``).

Other capabilities add their models next to :mod:`callrec_ari.db.models` (same ``Base``) and a new
Alembic revision on top of the current head.
"""

from callrec_ari.db.base import Base, UTCDateTime
from callrec_ari.db.engine import database_url, make_engine, make_sessionmaker
from callrec_ari.db.models import AuditRecord, Delivery, DeliveryAttempt

__all__ = [
    "AuditRecord",
    "Base",
    "Delivery",
    "DeliveryAttempt",
    "UTCDateTime",
    "database_url",
    "make_engine",
    "make_sessionmaker",
]
