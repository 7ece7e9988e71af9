"""Read API for the call flow: a subscriber line as :class:`~callrec_ari.config.LineConfig`.

Only enrolled lines (``removed_at`` unset) are found; a removed line is an ordinary outside number.
The suspension flags and the contract's notice omission travel with the line so the recording and
notice rules (R2.3, R5.5) decide with what the operator set.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from callrec_ari.config import LineConfig
from callrec_ari.contracts.models import Connection, Contract, Line

DEFAULT_NOTICE = LineConfig(endpoint="", number="").notice


def _newest(contract: Contract, kind: str) -> Connection | None:
    live = [c for c in contract.connections if c.type == kind and c.removed_at is None]
    return max(live, key=lambda c: (c.enrolled_at, c.id)) if live else None


def to_line_config(line: Line, contract: Contract, now: datetime | None = None) -> LineConfig:
    stream, file = _newest(contract, "stream"), _newest(contract, "file")
    return LineConfig(
        endpoint=line.endpoint,
        number=line.number,
        notice=line.notice or DEFAULT_NOTICE,
        recording_started=line.recording_started,
        consent=line.consent,
        withhold_caller_id=line.withhold_caller_id,
        omit_notice=contract.omit_notice,
        contract_suspended=contract.suspended,
        # From its end date a contract's lines record nothing (the daily close then removes them).
        contract_ended=contract.ends_at is not None and contract.ends_at <= (now or datetime.now(UTC)),
        line_suspended=line.suspended,
        # R1.5: the contract's live connection decides; stream only when it has a stream one.
        delivery="stream" if stream is not None else "file",
        stream_endpoint=stream.endpoint if stream is not None else "",
        stream_secret=stream.secret if stream is not None else "",
        stream_legacy_signature=stream.legacy_signature if stream is not None else True,
        # Each copy goes to its own contract's equipment, never to a configured default (R1.5).
        contract=str(contract.id),
        file_connection=file.id if file is not None else 0,
        audio_channels=line.audio_channels or contract.audio_channels or "mono",
    )


def _find(session: Session, condition: ColumnElement[bool]) -> LineConfig | None:
    row = session.execute(
        select(Line, Contract).join(Contract, Line.contract_id == Contract.id)
        .where(condition, Line.removed_at.is_(None))
    ).first()
    return None if row is None else to_line_config(row[0], row[1])


def line_by_endpoint(session: Session, endpoint: str) -> LineConfig | None:
    return _find(session, Line.endpoint == endpoint)


def line_by_number(session: Session, number: str) -> LineConfig | None:
    return _find(session, Line.number == number)


def enrolled_lines(session: Session) -> list[LineConfig]:
    rows = session.execute(
        select(Line, Contract).join(Contract, Line.contract_id == Contract.id)
        .where(Line.removed_at.is_(None)).order_by(Line.id)
    ).all()
    return [to_line_config(line, contract) for line, contract in rows]


__all__ = ["DEFAULT_NOTICE", "DatabaseLines", "enrolled_lines", "line_by_endpoint", "line_by_number",
           "to_line_config"]


class DatabaseLines:
    """Enrolled lines of the contracts database, as the call flow's ``LineDirectory``
    (calls/lines.py). Blocking: call from a worker thread."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def by_endpoint(self, endpoint: str) -> LineConfig | None:
        with self._sessions() as session:
            return line_by_endpoint(session, endpoint)

    def by_number(self, number: str) -> LineConfig | None:
        with self._sessions() as session:
            return line_by_number(session, number)

    def all_lines(self) -> list[LineConfig]:
        with self._sessions() as session:
            return enrolled_lines(session)
