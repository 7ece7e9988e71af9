"""The customer's line switches (R4.1, R5.4) and notice choice (R2.7): pages, API, audited actions."""
