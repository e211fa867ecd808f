# One image for the code location (gRPC server), the webserver, the daemon and every run container.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    AMC_REPORTS_CONFIG=/opt/amc_reports/reports.yaml \
    AMC_REPORTS_HOME=/opt/dagster/state

WORKDIR /opt/amc_reports
COPY pyproject.toml setup.py README.md ./
COPY amc_reports ./amc_reports
# The project with its `deploy` extra: the Docker and Kubernetes run launchers.
RUN pip install --no-cache-dir ".[deploy]"

COPY reports.yaml ./reports.yaml
COPY reports ./reports
COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml
RUN mkdir -p ${AMC_REPORTS_HOME}

EXPOSE 3000 4000
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "amc_reports.definitions"]
