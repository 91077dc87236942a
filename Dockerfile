# syntax=docker/dockerfile:1
# Digitale Balie: trytond 8.0 with the four modules, the sao web client and
# gunicorn, for docker-compose.yml (see docs/deployment.md).
#
#   docker build -t digitale-balie:8.0 .
#
# Everything is fetched while building (PyPI, Debian, npm); a running
# container downloads nothing.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# 1. sao, the Tryton web client, from npm.  --install-strategy=nested puts
#    sao's own node_modules inside it, where its index.html looks for them.
FROM ${NODE_IMAGE} AS sao
ARG SAO_VERSION=8.0
WORKDIR /build
RUN printf '{"name": "digitale-balie-sao", "private": true}\n' > package.json \
    && npm install --install-strategy=nested --no-audit --no-fund \
        --loglevel=error "tryton-sao@${SAO_VERSION}" \
    && test -f node_modules/tryton-sao/index.html \
    && test -d node_modules/tryton-sao/node_modules

# 2. the Python environment: the project with trytond, its PostgreSQL
#    driver and gunicorn, in a virtual environment copied into the image.
#    Every dependency has a wheel: no compiler needed.
FROM ${PYTHON_IMAGE} AS python
ARG GUNICORN_VERSION=27.0.1
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/balie
WORKDIR /src
COPY pyproject.toml README.md COPYRIGHT ./
COPY modules ./modules
RUN /opt/balie/bin/pip install ".[postgresql]" "gunicorn==${GUNICORN_VERSION}" \
    && /opt/balie/bin/pip check

# 3. the image
FROM ${PYTHON_IMAGE}
# WeasyPrint (booking card, manual, forms, reports) needs Pango and
# HarfBuzz from Debian, and fonts
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
        fonts-dejavu-core fonts-liberation2 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 1000 trytond \
    && useradd --system --uid 1000 --gid trytond \
        --home-dir /var/lib/trytond --shell /usr/sbin/nologin trytond \
    && mkdir -p /var/lib/trytond/filestore \
    && chown -R trytond:trytond /var/lib/trytond
COPY --from=python /opt/balie /opt/balie
COPY --from=sao /build/node_modules/tryton-sao /srv/sao
COPY docker/trytond.conf /etc/trytond/trytond.conf
COPY docker/entrypoint.sh docker/balie_db.py docker/healthcheck.py \
    docker/gunicorn.conf.py /usr/local/lib/balie/
RUN chmod 0755 /usr/local/lib/balie/entrypoint.sh \
        /usr/local/lib/balie/balie_db.py /usr/local/lib/balie/healthcheck.py
# PIP_NO_INDEX: nothing is installed from the internet at run time
ENV PATH=/opt/balie/bin:$PATH \
    TRYTOND_CONFIG=/etc/trytond/trytond.conf \
    PYTHONUNBUFFERED=1 \
    PIP_NO_INDEX=1
USER trytond
WORKDIR /var/lib/trytond
VOLUME ["/var/lib/trytond/filestore"]
EXPOSE 8000
ENTRYPOINT ["/usr/local/lib/balie/entrypoint.sh"]
# several worker processes (sync workers): see docs/deployment.md
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "4", \
    "--timeout", "90", "--max-requests", "2000", \
    "--max-requests-jitter", "200", "trytond.application:app"]
