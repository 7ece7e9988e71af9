"""The operator's enrollment (R5.1-R5.3): contracts, lines, CSV import, connections."""
