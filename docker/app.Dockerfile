# The callrec application (ARI app, and the other `callrec` commands).
FROM python:3.11-slim
WORKDIR /opt/callrec
COPY pyproject.toml README.md ./
COPY callrec_ari/ callrec_ari/
COPY config/ config/
RUN mkdir -p var notices
RUN pip install --no-cache-dir .
ENTRYPOINT ["callrec"]
