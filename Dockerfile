# MiniTwit production image. Build: docker build -t REGISTRY/minitwit:TAG .
# It builds with BuildKit and with the classic builder alike, and pulls nothing but its base:
# no `# syntax=` frontend, no BuildKit-only instruction (`COPY --chmod`, `RUN --mount`).
# The base is an exact version tag, so a rebuild gets the same Python and Debian release
# (bookworm). A site with no registry builds one from Debian's packages and names it here:
# --build-arg PYTHON_IMAGE=minitwit-local/python:3.11-bookworm (infra/images/build.sh).
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm

# --- build: install the package and its runtime dependencies into a venv ---
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY . .
# `pip install .` without extras: no test or dev dependencies reach the image. Every version
# comes from constraints.txt, the same pins CI tests and audits.
RUN pip install -c constraints.txt . && pip uninstall --yes pip

# --- runtime: the venv, the static web client, an unprivileged user ---
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    MINITWIT_ENV=production \
    MINITWIT_WEB_DIR=/app/web
# postgresql-client (15, bookworm's, the server's major version): pg_dump and pg_restore
# for `minitwit backup` and `minitwit restore`.
# DL3008 (pin apt packages' versions): a stable Debian release changes a package only for a
# security fix, which a rebuild should take; the release itself is pinned by the base.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 minitwit \
    && useradd --system --uid 10001 --gid minitwit --home-dir /app \
       --no-create-home --shell /usr/sbin/nologin minitwit
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY web/ /app/web/
# COPY keeps the file's mode from the checkout (git records it as executable).
COPY infra/docker/backup-schedule.sh /usr/local/bin/minitwit-backup-schedule
# Numeric ids so orchestrators can verify the user is not root.
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
# Unhealthy until /health/ready has once answered 200 (schema at the newest migration),
# then healthy while /health/live answers (minitwit/healthcheck.py; slim has no curl).
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-m", "minitwit.healthcheck", "8000"]
# --graceful-timeout, with the stack's drain (3 s), stays below its stop_grace_period (30 s),
# so in-flight requests finish before Docker sends SIGKILL.
CMD ["minitwit", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--graceful-timeout", "20"]
