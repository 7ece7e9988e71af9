# A softphone for testers: baresip registered as line 1001 (password callrec1001) on the local
# Asterisk. There is no sound device in a container: it plays a WAV file as its voice and records
# what it hears (docker/softphone/config). `docker compose run softphone`, then "/dial 0312345678".
FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends baresip \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /root/.baresip /usr/share/callrec /var/baresip
COPY docker/softphone/config docker/softphone/accounts /root/.baresip/
COPY callrec_ari/sounds/notice-en.wav /usr/share/callrec/voice.wav
VOLUME /var/baresip
ENTRYPOINT ["baresip", "-f", "/root/.baresip"]
