# One image for every IOC part: `ioc migrate`, `ioc worker`, `ioc dashboard`, `ioc simulate`.
# Build: docker build -t ioc-monitor .   (docker-compose.yml builds it as `build: .`)
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IOC_DATA_DIR=/var/lib/ioc

WORKDIR /app

# Editable install on purpose: the migration runner finds its files at
# ioc.settings.REPO_DIR / "sql", and REPO_DIR is the folder above the `ioc` package,
# so the packages and sql/ must sit side by side in /app.
COPY pyproject.toml README.md ./
COPY ioc/ ioc/
COPY streams/ streams/
COPY simulators/ simulators/
COPY ioc_dashboard/ ioc_dashboard/
COPY sql/ sql/
RUN pip install -e . \
    && useradd --system --home-dir /var/lib/ioc --shell /usr/sbin/nologin ioc \
    && mkdir -p /var/lib/ioc \
    && chown ioc /var/lib/ioc

USER ioc

ENTRYPOINT []
CMD ["ioc", "--help"]
