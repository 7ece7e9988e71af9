"""Per-call sessions: the ARI call flow of a subscriber's call."""
