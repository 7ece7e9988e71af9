"""The data types shared across layers: what a call is planned to be, what it leaves behind, and the
seam between the call flow and the media parts that carry it out (docs/architecture.md).

Plain frozen data, no I/O. Imported by the engine parts (``recording``, ``streaming``), the call flow
(``calls``) and the services (``delivery``, ``contracts``, the app), never the other way round.
"""
