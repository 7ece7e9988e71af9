# A softphone for testers: baresip registered as line 1001 (password callrec1001) on the local
# Asterisk. `docker compose run softphone`, then type "/dial 0312345678" and talk.
FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends baresip \
 && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /root/.baresip \
 && echo '<sip:1001@127.0.0.1>;auth_pass=callrec1001;regint=600' > /root/.baresip/accounts
ENTRYPOINT ["baresip"]
