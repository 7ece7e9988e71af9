"""The contract as customers and operators see it: settings, connections, deliveries, charges,
audit log; the operator's contract list and suspensions (R5.5)."""
