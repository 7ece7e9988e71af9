"""Outbound connections to customers' equipment: only to addresses the platform may reach
(:mod:`callrec_ari.net.destinations`, over the pure rules of ``rules/destinations.py``)."""
