# One image for every IOC part: `ioc migrate`, `ioc worker`, `ioc dashboard`, `ioc simulate`.
# Build: docker build -t ioc-monitor .   (docker-compose.yml builds it as `build: .`)

# Stage 1: the wheel, holding every package and every data file it reads (migrations,
# rules, scenarios, rhythms, province and calendar data, wall assets). The same sources
# and command are built and installed outside the checkout by tests/integration/test_wheel.py.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY ioc/ ioc/
COPY streams/ streams/
COPY simulators/ simulators/
COPY ioc_dashboard/ ioc_dashboard/
COPY proof/ proof/
COPY ioc_command/ ioc_command/
COPY intake/ intake/
COPY prober/ prober/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .
# the tested versions travel with the wheel
RUN cp requirements.lock /wheels/

# Stage 2: the runtime, the wheel installed like any package (no source tree in the image),
# at the tested versions (requirements.lock); without the `embedded` extra: the services are
# given (IOC_DATABASE_URL, IOC_KAFKA_BOOTSTRAP), as docker-compose.yml does.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IOC_DATA_DIR=/var/lib/ioc

COPY --from=build /wheels/ /tmp/wheels/
RUN pip install -c /tmp/wheels/requirements.lock /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && useradd --system --home-dir /var/lib/ioc --shell /usr/sbin/nologin ioc \
    && mkdir -p /var/lib/ioc \
    && chown ioc /var/lib/ioc

USER ioc
WORKDIR /var/lib/ioc

ENTRYPOINT []
CMD ["ioc", "--help"]
