"""File delivery (R1.1-R1.3): packaging, durable queue, transports, worker, retention and purge.

Call flow entry point: :class:`RecordingSubmitter`. Worker: :func:`make_worker` / ``callrec deliver``.
Protocol: docs/delivery-protocol.md.
"""

from callrec_ari.delivery.packaging import Package, Segment, package_call
from callrec_ari.delivery.service import RecordingSubmitter, make_transport, make_worker
from callrec_ari.delivery.settings import ConnectionSettings, DeliverySettings, load_delivery_settings

__all__ = [
    "ConnectionSettings",
    "DeliverySettings",
    "Package",
    "RecordingSubmitter",
    "Segment",
    "load_delivery_settings",
    "make_transport",
    "make_worker",
    "package_call",
]
