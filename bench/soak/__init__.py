"""`make soak` (issue 20): load for SOAK_MINUTES with the faults carriers see, then every call accounted.

The platform under test is the production shape on one machine: Kamailio as the SIP edge, one Asterisk
22 node with its `callrec run`, a `callrec deliver` worker, all on a PostgreSQL of the soak's own
(initdb'd in the work folder, so that it can be restarted without touching the machine's), the app's
spool on a size-limited filesystem (tmpfs) so that it can be filled. SIPp places calls of four
customers' lines through the edge, with two-way audio (each party its own tone):

- A (file, its own reference receiver): short calls, and long ones that roll segments;
- B (file, its receiver behind a gate that can answer 500 and holds each upload a moment);
- C (stream: RTP to its receiver, nothing kept);
- D (file, to equipment that never answers): one call, purged at its 7-day deadline;
- calls to an excluded number (117, R3.4): connected, not recorded.

Faults come on a schedule printed at the start, reproducible from SOAK_SEED (see ``schedule``). At the
end, call by call, from the receivers' own stores and the platform's call records and queue:
delivered once to its own customer, or accounted for by a documented reason; nothing at a customer
that does not own it; nothing left in the spool or Asterisk's recording folder; and the growth per
hour of each process's memory and descriptors (least squares), and database rows per call.

Results: bench/soak-results.json and bench/soak-results.md (``--out`` elsewhere: the 3-minute smoke of
`make test`, tests/soak/). Usage: .venv/bin/python -m bench.soak [--minutes N] [--seed S] [--smoke]
"""

from bench.soak.cli import main
from bench.soak.platform import soak
from bench.soak.report import render_md

__all__ = ["main", "render_md", "soak"]
