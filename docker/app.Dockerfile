# The callrec application (ARI app, and the other `callrec` commands).
FROM python:3.11-slim
WORKDIR /opt/callrec
COPY pyproject.toml README.md ./
COPY callrec_ari/ callrec_ari/
COPY migrations/ migrations/
COPY alembic.ini ./
COPY config/ config/
COPY sounds/ sounds/
RUN mkdir -p var notices
# Editable: the Alembic migrations are read from /opt/callrec/migrations (callrec_ari/db/migrate.py).
RUN pip install --no-cache-dir -e .
ENTRYPOINT ["callrec"]
