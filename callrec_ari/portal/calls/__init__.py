"""The customer's calls (issue 19): the call list with its filters, the CSV export, and one call's page
with its timeline (answer, notices, talk, end, and the customer's own delivery copy's attempts)."""
