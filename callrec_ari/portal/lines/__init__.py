"""The customer's line switches (R4.1, R5.4), notice choice (R2.7) and caller ID default: pages, API,
audited actions (the caller ID default also for operators)."""
