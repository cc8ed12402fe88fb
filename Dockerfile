# Backprop: one image for the API (uvicorn) and the workers (python -m worker).
#
#   docker build -t backprop .
#   docker compose up -d            # see docker-compose.yml and docs/deploy.md
#
# Two stages: `build` installs the dependencies and the project into a virtual
# environment; the final stage copies only that venv onto a clean base, so no
# pip cache, compiler or source tree ships. Runs as uid/gid 10001; the SQLite
# database lives in the /data volume, the processes' Prometheus samples in /metrics
# (docker-compose.yml mounts a volume there; docs/metrics.md).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when
# the dependency list changes, not on every code edit. The `postgres` extra
# (psycopg) too, so the same image runs on PostgreSQL (compose profile `postgres`).
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['postgres']))" > requirements.txt \
 && pip install -r requirements.txt
COPY README.md alembic.ini ./
COPY app ./app
COPY worker ./worker
# --no-deps: everything was installed above; a non-editable install puts app/,
# worker/ and the Alembic migrations into the venv's site-packages (pip also
# byte-compiles them: the final image's user cannot write there). pip and
# setuptools are not needed at run time (about 25 MB).
RUN pip install --no-deps . \
 && pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="backprop" \
      org.opencontainers.image.description="Neural-network training-job service: REST API and NumPy backprop workers"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BACKPROP_DATABASE_URL=sqlite:////data/backprop.db \
    BACKPROP_API_PORT=8000
RUN groupadd --system --gid 10001 backprop \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin backprop \
 && mkdir /data /metrics \
 && chown 10001:10001 /data /metrics
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# The slim base has no curl: ask /health with the standard library. For the
# worker service compose turns this check off (it serves no HTTP).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('BACKPROP_API_PORT', '8000'), timeout=4)"]
# Default: migrate (idempotent) and serve the API. The worker service runs
# `python -m worker` instead.
CMD ["sh", "-c", "backprop migrate && exec uvicorn app.api.main:create_app --factory --host 0.0.0.0 --port \"$BACKPROP_API_PORT\""]
