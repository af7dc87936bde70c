# syntax=docker/dockerfile:1
# k8s-runbook-bot: slim, non-root, read-only root filesystem friendly.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY runbooks ./runbooks
RUN pip install --no-cache-dir --prefix=/install ".[postgres]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RUNBOOK_BOT_CONFIG=/etc/runbook-bot/config.yaml
COPY --from=build /install /usr/local
COPY config/example.yaml /etc/runbook-bot/config.yaml
RUN useradd --system --uid 10001 --home-dir /var/lib/runbook-bot --create-home runbook-bot
USER 10001:10001
WORKDIR /var/lib/runbook-bot
EXPOSE 3000
ENTRYPOINT ["runbook-bot"]
CMD ["serve"]
