# syntax=docker/dockerfile:1
# k8s-runbook-bot: multi-stage (no build tools in the final image), non-root (uid 10001), and
# made for a read-only root filesystem: the only writable path is the data volume, which is also
# the working directory, so the default SQLite store (runbook-bot.sqlite3) lives there.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY runbooks ./runbooks
RUN pip install --no-cache-dir --no-warn-script-location --prefix=/install "./[postgres]"

FROM python:3.11-slim
# MALLOC_ARENA_MAX: glibc gives every thread that allocates its own arena, which keeps freed
# memory; with the bot's worker, gRPC and upload threads two arenas hold RSS ~10-15 MiB lower
# during an etcd-backup at no measured cost in speed (docs/benchmarks.md).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    RUNBOOK_BOT_CONFIG=/etc/runbook-bot/config.yaml
RUN groupadd --gid 10001 runbook-bot \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/runbook-bot \
      --shell /usr/sbin/nologin runbook-bot \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/runbook-bot /var/lib/runbook-bot/data
COPY --from=build /install /usr/local
COPY config/example.yaml /etc/runbook-bot/config.yaml
USER 10001:10001
WORKDIR /var/lib/runbook-bot/data
VOLUME ["/var/lib/runbook-bot/data"]
EXPOSE 3000
ENTRYPOINT ["runbook-bot"]
CMD ["serve"]
