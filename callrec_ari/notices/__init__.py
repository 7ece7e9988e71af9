"""Recording notices customers upload (R2.7): validation and conversion (:mod:`.audio`), the pending
table (:mod:`.models`), and the operator's approval that makes a notice live (:mod:`.service`)."""

from callrec_ari.notices.audio import AudioLimits, NoticeAudioError
from callrec_ari.notices.models import NoticeUpload
from callrec_ari.notices.service import SAMPLE_NOTICES, NoticeError

__all__ = ["SAMPLE_NOTICES", "AudioLimits", "NoticeAudioError", "NoticeError", "NoticeUpload"]
