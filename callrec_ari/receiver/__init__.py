"""The reference customer receiver for file delivery (``callrec receiver``)."""

from callrec_ari.receiver.app import UPLOAD_PATH, Receiver, serve
from callrec_ari.receiver.verify import UploadRejected, verify_zip

__all__ = ["UPLOAD_PATH", "Receiver", "UploadRejected", "serve", "verify_zip"]
