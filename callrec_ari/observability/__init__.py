"""What operators see: the JSON event log, Prometheus metrics, health and readiness."""
