# One image for the code location (gRPC server), the webserver, the daemon and every run container.
# BASE_IMAGE: any Debian-like image with python3 (3.11+) and its venv module; `make test-deploy`
# builds on a debootstrapped Debian without a registry. PIP_INSTALL_OPTIONS: extra pip options
# (`make test-deploy` points pip at a local wheelhouse).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG PIP_INSTALL_OPTIONS=""

# Production: live AMC and AMC_REPORTS_DATABASE_URL, or the code location refuses to load.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    AMC_REPORTS_ENV=production \
    DAGSTER_HOME=/opt/dagster/home \
    AMC_REPORTS_CONFIG=/opt/amc_reports/reports.yaml \
    AMC_REPORTS_HOME=/opt/dagster/state

WORKDIR /opt/amc_reports
COPY pyproject.toml setup.py README.md ./
COPY amc_reports ./amc_reports
# The project with its `deploy` extra (the Docker and Kubernetes run launchers) in a venv, and
# without the `local` extra: no sandbox, no embedded Postgres in the image.
RUN python3 -m venv /opt/venv \
    && pip install --no-cache-dir ${PIP_INSTALL_OPTIONS} ".[deploy]"

COPY reports.yaml ./reports.yaml
COPY reports ./reports
COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml
RUN mkdir -p ${AMC_REPORTS_HOME} /opt/dagster/compute_logs

EXPOSE 3000 4000
# The code location, as the README, Compose and the Helm chart (dagsterApiGrpcArgs) run it.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "amc_reports.definitions"]
