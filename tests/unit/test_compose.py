"""The structure of docker-compose.yml (no Docker engine here, so it is read, not run).

Checks that the production stack only uses what the code really has: `ioc` subcommands
from `build_parser()`, `IOC_*` names from `ioc.settings`, values those settings accept,
and that Prometheus/Alertmanager are wired to the workers.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from ioc.settings import ENV_NAMES, Settings
from ioc_command.cli import build_parser
from tests.unit.test_house import FLOORS

REPO = Path(__file__).resolve().parents[2]

COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
REQUIRED_SERVICES = {"kafka", "timescaledb", "migrate", "worker", "dashboard", "simulator",
                     "alerter", "notifier", "prometheus", "alertmanager", "intake"}
# service -> the `ioc` subcommand it must run
EXPECTED_COMMANDS = {"migrate": "migrate", "worker": "worker", "dashboard": "dashboard",
                     "intake": "intake",
                     "simulator": "simulate", "alerter": "alerter", "notifier": "notifier"}

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?error}` with no variable set.

    Defaults are used; required variables (the secrets of `.env`) get a sample value.
    """
    def sub(m: re.Match) -> str:
        if m.group("op") in (":-", "-"):
            return m.group("arg")
        return f"sample-{m.group('name').lower().replace('_', '-')}"

    return _VAR.sub(sub, value).replace("$$", "$")


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    out = {}
    for key, value in env.items():
        assert isinstance(value, str | int | float) and not isinstance(value, bool), (
            f"{key}: quote it; compose would pass {value!r} in an unexpected form")
        out[key] = interpolate(str(value))
    return out


def command_of(service: dict) -> list[str]:
    command = service.get("command")
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command or []]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def ours(services) -> dict[str, dict]:
    """Services built from our Dockerfile."""
    found = {name: s for name, s in services.items() if s.get("build") in (".", "./")}
    assert found, "no service is built from the repo's Dockerfile (build: .)"
    return found


@pytest.fixture(scope="module")
def subcommands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return set(actions[0].choices)


def workers(ours: dict[str, dict]) -> dict[str, dict]:
    return {name: s for name, s in ours.items() if command_of(s)[:2] == ["ioc", "worker"]}


def mounted_file(service: dict, target: str) -> Path:
    """The repo file a service mounts at `target` (short volume syntax)."""
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == target:
            return (REPO / source).resolve()
    raise AssertionError(f"nothing is mounted at {target}")


def test_required_services_exist(services):
    assert set(services) >= REQUIRED_SERVICES, REQUIRED_SERVICES - set(services)


def test_images_are_the_pinned_ones(services):
    # production's broker is the Apache Kafka release the suite's broker tier runs
    pom = ElementTree.parse(REPO / "ioc" / "kafka" / "pom.xml").getroot()
    tested = pom.find("{http://maven.apache.org/POM/4.0.0}properties/"
                      "{http://maven.apache.org/POM/4.0.0}kafka.version").text
    assert services["kafka"]["image"] == f"apache/kafka:{tested}" == "apache/kafka:4.1.1"
    assert services["timescaledb"]["image"] == "timescale/timescaledb:2.17.2-pg16"
    assert services["prometheus"]["image"] == "prom/prometheus:v2.53.0"
    assert services["alertmanager"]["image"] == "prom/alertmanager:v0.25.0"
    for name in ("migrate", "worker", "dashboard", "simulator"):
        assert services[name].get("build") == ".", f"{name} must run our image (build: .)"


def test_kafka_runs_in_kraft_mode_without_zookeeper(services):
    env = env_of(services["kafka"])
    roles = {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")}
    assert roles == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node_id}@kafka:")
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert env.get("CLUSTER_ID")
    assert not any(k.startswith("KAFKA_ZOOKEEPER") for k in env)
    assert not [n for n, s in services.items()
                if "zookeeper" in n.lower() or "zookeeper" in str(s.get("image", "")).lower()]


def test_every_ioc_variable_is_a_real_setting(services, compose):
    set_in_services = {key for s in services.values() for key in env_of(s)
                       if key.startswith("IOC_")}
    set_in_anchor = {key for key in compose.get("x-ioc-env", {}) if key.startswith("IOC_")}
    assert set_in_services, "no IOC_* variable is set in docker-compose.yml"
    # also anything the text names (comments, interpolations) and the Dockerfile's ENV
    mentioned = set(re.findall(r"\bIOC_[A-Z0-9_]+", COMPOSE_FILE.read_text(encoding="utf-8")))
    mentioned |= set(re.findall(r"\bIOC_[A-Z0-9_]+", DOCKERFILE.read_text(encoding="utf-8")))
    unknown = (set_in_services | set_in_anchor | mentioned) - set(ENV_NAMES)
    assert not unknown, f"not in ioc.settings.ENV_NAMES: {sorted(unknown)}"


def test_shared_env_comes_from_the_anchor(compose, ours):
    shared = compose["x-ioc-env"]
    assert {"IOC_KAFKA_BOOTSTRAP", "IOC_DATABASE_URL"} <= set(shared)
    for name, service in ours.items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use the mapping form to merge x-ioc-env"
        missing = set(shared) - set(env)
        assert not missing, f"{name} does not merge x-ioc-env (missing {sorted(missing)})"


def test_our_services_run_real_ioc_subcommands(ours, subcommands):
    for name, service in ours.items():
        command = command_of(service)
        assert command[:1] == ["ioc"], f"{name}: command must start with `ioc`, got {command}"
        assert len(command) >= 2 and command[1] in subcommands, (
            f"{name}: `{' '.join(command)}` is not one of the ioc subcommands "
            f"{sorted(subcommands)}")
        build_parser().parse_args(command[1:])  # options too: SystemExit if unknown


def test_each_part_runs_its_subcommand(services):
    for name, subcommand in EXPECTED_COMMANDS.items():
        assert command_of(services[name])[:2] == ["ioc", subcommand], name


def test_settings_of_every_service_are_valid(ours):
    for name, service in ours.items():
        env = {k: v for k, v in env_of(service).items() if k.startswith("IOC_")}
        settings = Settings.from_env(env)  # SettingsError names a bad value
        assert settings.kafka_bootstrap, f"{name}: IOC_KAFKA_BOOTSTRAP unset (embedded broker)"
        assert settings.database_url, f"{name}: IOC_DATABASE_URL unset (embedded database)"


def test_urls_point_at_the_compose_services(services, ours):
    kafka_env = env_of(services["kafka"])
    advertised = {listener.split("://", 1)[1]
                  for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    db_env = env_of(services["timescaledb"])
    for name, service in ours.items():
        env = env_of(service)
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("IOC_")})
        for server in settings.kafka_bootstrap.split(","):
            assert server.strip() in advertised, f"{name}: {server} is not an advertised listener"
        url = re.match(r"postgres(?:ql)?://(?P<user>[^:@]+)(?::(?P<pw>[^@]*))?@(?P<host>[^:/]+)"
                       r"(?::(?P<port>\d+))?/(?P<db>\w+)$", settings.database_url)
        assert url, f"{name}: unexpected URL form {settings.database_url}"
        assert url["host"] == "timescaledb" and url["db"] == db_env["POSTGRES_DB"], name


def test_only_migrate_holds_the_owner_password(services, ours):
    owner_pw = interpolate(services["timescaledb"]["environment"]["POSTGRES_PASSWORD"])
    migrate_env = env_of(services["migrate"])
    assert f":{owner_pw}@" in migrate_env["IOC_DATABASE_URL"]
    assert migrate_env["IOC_WRITER_PASSWORD"] and migrate_env["IOC_READER_PASSWORD"]
    for name, service in ours.items():
        if name != "migrate":
            assert owner_pw not in env_of(service).get("IOC_DATABASE_URL", ""), name
    # the parts connect as their own role with the password migrate gave that role
    for name in workers(ours):
        assert env_of(ours[name])["IOC_WRITER_PASSWORD"] == migrate_env["IOC_WRITER_PASSWORD"]
    for name in ("alerter", "notifier"):
        assert env_of(ours[name])["IOC_WRITER_PASSWORD"] == migrate_env["IOC_WRITER_PASSWORD"]
    dashboard = env_of(services["dashboard"])
    assert dashboard["IOC_READER_PASSWORD"] == migrate_env["IOC_READER_PASSWORD"]
    # the wall's login and actions connect as ioc_operator, with the password migrate set
    assert dashboard["IOC_OPERATOR_PASSWORD"] == migrate_env["IOC_OPERATOR_PASSWORD"]
    assert dashboard["IOC_WALL_SECRET"]


def test_the_env_file_list_names_every_secret(services):
    """Every secret compose requires from .env is listed in its header and in the README."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    header = text.split("\nx-ioc-env", 1)[0]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running against docker-compose", 1)[1].split("```", 1)[0]
    for name in required:
        assert f"#        {name}=" in header, f"{name} missing from the .env list of the header"
        assert f"`{name}`" in section, f"{name} missing from the README's .env list"


def test_migrate_runs_first_and_once(services):
    assert services["migrate"].get("restart") == "no"
    assert services["migrate"]["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["timescaledb"]["healthcheck"]["test"])
    for name in ("worker", "worker-2", "dashboard"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    for name in ("worker", "worker-2", "simulator"):
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy", name
    assert services["kafka"].get("healthcheck"), "kafka needs a healthcheck for service_healthy"


def test_dashboard_is_published_and_health_checked(services):
    dashboard = services["dashboard"]
    settings = Settings.from_env(
        {k: v for k, v in env_of(dashboard).items() if k.startswith("IOC_")})
    assert settings.dashboard_host == "0.0.0.0"
    assert f"{settings.dashboard_port}:{settings.dashboard_port}" in \
        [str(p) for p in dashboard["ports"]]
    check = " ".join(dashboard["healthcheck"]["test"])
    assert f":{settings.dashboard_port}/healthz" in check


def test_workers_scale_out_in_one_consumer_group(ours):
    found = workers(ours)
    assert len(found) >= 2, "show scale-out with a second worker service"
    groups = set()
    for name, service in found.items():
        settings = Settings.from_env(
            {k: v for k, v in env_of(service).items() if k.startswith("IOC_")})
        assert settings.worker_host == "0.0.0.0", f"{name}: /metrics must be reachable"
        groups.add(settings.consumer_group)
    assert len(groups) == 1, f"workers in different consumer groups: {groups}"


def test_prometheus_scrapes_every_worker(services, ours):
    config_file = mounted_file(services["prometheus"], "/etc/prometheus/prometheus.yml")
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    targets = {target for job in config["scrape_configs"]
               if job.get("metrics_path", "/metrics") == "/metrics"
               for static in job.get("static_configs", []) for target in static["targets"]}
    for name, service in workers(ours).items():
        port = Settings.from_env(
            {k: v for k, v in env_of(service).items() if k.startswith("IOC_")}).worker_port
        assert f"{name}:{port}" in targets, f"Prometheus does not scrape {name}:{port}/metrics"
    for rule_file in config.get("rule_files", []):
        local = config_file.parent / rule_file
        assert local.is_file(), f"rule file {rule_file} missing next to {config_file.name}"
        assert mounted_file(services["prometheus"], f"/etc/prometheus/{rule_file}") == local
    managers = [t for am in config["alerting"]["alertmanagers"]
                for static in am["static_configs"] for t in static["targets"]]
    assert "alertmanager:9093" in managers


def test_alertmanager_sends_to_a_webhook(services):
    config_file = mounted_file(services["alertmanager"], "/etc/alertmanager/alertmanager.yml")
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    receivers = {r["name"]: r for r in config["receivers"]}
    default = receivers[config["route"]["receiver"]]
    urls = [hook["url"] for hook in default["webhook_configs"]]
    assert urls and all(u.startswith(("http://", "https://")) for u in urls)


def dockerfile_stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line on."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    return ["FROM" + part for part in re.split(r"^FROM", text, flags=re.M)[1:]]


def dockerfile_build_sources() -> list[str]:
    """What the wheel stage copies from the checkout (tests/integration/test_wheel.py builds
    the wheel from the same list)."""
    return [src for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile_stages()[0], re.M)
            for src in line.split()[:-1]]


def test_dockerfile_builds_a_wheel_and_installs_it_not_editable():
    build, runtime = dockerfile_stages()
    assert re.match(r"FROM python:3\.11-slim AS build\b", build)
    assert re.search(r"pip wheel (?:\S+ )*--no-deps (?:\S+ )*--wheel-dir /wheels \.$", build, re.M)
    assert {f"{package}/" for package in FLOORS} | {"pyproject.toml"} \
        <= set(dockerfile_build_sources())
    assert re.match(r"FROM python:3\.11-slim\s", runtime)
    assert re.search(r"^COPY --from=build /wheels/ /tmp/wheels/$", runtime, re.M)
    # at the tested versions, without the embedded services (the image is given them)
    assert re.search(r"pip install -c /tmp/wheels/requirements\.lock /tmp/wheels/\*\.whl",
                     runtime)
    assert "requirements.lock" in dockerfile_build_sources()
    # the runtime has no source tree: nothing copied from the checkout, nothing editable
    assert not re.search(r"^COPY (?!--from)", runtime, re.M)
    assert " -e " not in runtime and "--editable" not in runtime
    assert re.search(r"^USER ioc$", runtime, re.M)
