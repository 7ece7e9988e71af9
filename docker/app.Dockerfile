# The callrec application (ARI app, and the other `callrec` commands), installed as a wheel (not
# editable) from the pinned constraints, with sox for the portal's uploaded notices.
FROM python:3.11-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sox \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY callrec_ari/ callrec_ari/
RUN pip install --no-cache-dir -c constraints.txt . && rm -rf /src
WORKDIR /opt/callrec
COPY config/ config/
RUN mkdir -p var notices
# Two C allocator arenas, as the systemd units (docs/deploy.md, "When a process's memory grows").
ENV MALLOC_ARENA_MAX=2
ENTRYPOINT ["callrec"]
