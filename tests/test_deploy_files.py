"""The deployment files agree with each other and with the service they deploy.

Docker is not run here: these tests read Dockerfile, docker-stack.yml and the
configuration under infra/ and pin the properties a deploy relies on.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"

APP_METRICS = [
    "minitwit_http_requests_total",
    "minitwit_http_request_duration_seconds",
    "minitwit_graphql_operations_total",
    "minitwit_db_pool_checked_out",
]
POSTGRES_RESERVED_CONNECTIONS = 3
# Migrations (migrate task and web tasks migrating at start) and operators' sessions.
CONNECTION_HEADROOM = 20


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    instructions = []
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_arguments(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile_instructions() if kw == keyword]


def image_cmd() -> list[str]:
    cmds = dockerfile_arguments("CMD")
    assert cmds, "Dockerfile has no CMD"
    cmd = json.loads(cmds[-1])
    assert isinstance(cmd, list)
    return [str(part) for part in cmd]


def option(command: list[str], name: str) -> str:
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


def seconds(duration: str) -> float:
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", duration)
    assert parts, f"unreadable duration {duration!r}"
    minutes, secs = parts.groups()
    return int(minutes or 0) * 60 + float(secs or 0)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def secret_names(service: dict[str, Any]) -> set[str]:
    return {
        item if isinstance(item, str) else item["source"] for item in service.get("secrets", [])
    }


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-stack.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return stack["services"]


@pytest.fixture(scope="module")
def web(services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return services["web"]


@pytest.fixture(scope="module")
def web_command(web: dict[str, Any]) -> list[str]:
    command = web.get("command") or image_cmd()
    return command.split() if isinstance(command, str) else command


@pytest.fixture(scope="module")
def web_port(web_command: list[str]) -> int:
    return int(option(web_command, "--port"))


@pytest.fixture(scope="module")
def nginx_conf() -> str:
    return (INFRA / "nginx" / "nginx.conf").read_text()


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads((INFRA / "grafana" / "dashboards" / "minitwit.json").read_text())


def test_stack_uses_compose_file_format_3_8(stack: dict[str, Any]) -> None:
    assert str(stack["version"]) == "3.8"


def test_stack_file_passes_the_docker_cli_schema_check() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker CLI not installed")
    # `docker stack config` validates and renders client-side: no engine needed.
    result = subprocess.run(
        [docker, "stack", "config", "--compose-file", "docker-stack.yml"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent.sock"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if "unknown command" in result.stderr or "unknown flag" in result.stderr:
        pytest.skip("this docker CLI has no `stack config`")
    assert result.returncode == 0, result.stderr


def test_stack_has_the_expected_services(services: dict[str, Any]) -> None:
    assert {"db", "migrate", "web", "proxy", "prometheus", "grafana"} <= set(services)


def test_every_service_has_an_image_or_build(services: dict[str, Any]) -> None:
    missing = [name for name, spec in services.items() if not spec.get("image")]
    missing = [name for name in missing if not services[name].get("build")]
    assert missing == []


def test_web_runs_several_replicas(web: dict[str, Any]) -> None:
    assert web["deploy"]["replicas"] >= 2


def test_web_updates_one_task_at_a_time_starting_the_new_one_first(
    web: dict[str, Any],
) -> None:
    update = web["deploy"]["update_config"]
    assert update["order"] == "start-first"
    assert update["parallelism"] == 1


def test_web_rolls_back_a_failed_update(web: dict[str, Any]) -> None:
    assert web["deploy"]["update_config"]["failure_action"] == "rollback"


def test_web_finishes_in_flight_requests_before_it_is_killed(
    web: dict[str, Any], web_command: list[str]
) -> None:
    grace = seconds(web["stop_grace_period"])
    assert grace == 30
    assert float(option(web_command, "--graceful-timeout")) < grace
    assert dockerfile_arguments("STOPSIGNAL") == ["SIGTERM"]


def test_web_has_cpu_and_memory_limits(web: dict[str, Any]) -> None:
    limits = web["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0
    assert limits["memory"]


@pytest.mark.parametrize("name", ["db", "web", "proxy"])
def test_long_running_services_have_a_healthcheck(services: dict[str, Any], name: str) -> None:
    healthcheck = services[name]["healthcheck"]
    assert not healthcheck.get("disable", False)
    assert healthcheck_command(services[name])


def test_web_healthcheck_probes_liveness_on_the_web_port(
    web: dict[str, Any], web_port: int
) -> None:
    assert f"127.0.0.1:{web_port}/health/live" in healthcheck_command(web)


def test_web_reads_the_secret_key_from_a_docker_secret(
    stack: dict[str, Any], web: dict[str, Any]
) -> None:
    assert "minitwit_secret_key" in secret_names(web)
    assert "minitwit_secret_key" in stack["secrets"]
    env = environment(web)
    assert env["SECRET_KEY_FILE"] == "/run/secrets/minitwit_secret_key"
    assert "SECRET_KEY" not in env
    assert env["MINITWIT_ENV"] == "production"


@pytest.mark.parametrize("name", ["web", "migrate"])
def test_database_url_with_its_password_comes_from_a_secret(
    stack: dict[str, Any], services: dict[str, Any], name: str
) -> None:
    env = environment(services[name])
    assert "DATABASE_URL" not in env
    secret = env["DATABASE_URL_FILE"].removeprefix("/run/secrets/")
    assert secret in secret_names(services[name])
    assert secret in stack["secrets"]


def test_every_secret_a_service_uses_is_declared(
    stack: dict[str, Any], services: dict[str, Any]
) -> None:
    used = set().union(*(secret_names(spec) for spec in services.values()))
    assert used <= set(stack["secrets"])


def test_db_keeps_its_data_on_a_labelled_node(
    stack: dict[str, Any], services: dict[str, Any]
) -> None:
    db = services["db"]
    assert db["image"].startswith("postgres:15")
    constraints = db["deploy"]["placement"]["constraints"]
    assert any(c.startswith("node.labels.") for c in constraints)
    volume = db["volumes"][0].split(":")[0]
    assert volume in stack["volumes"]
    assert "pg_isready" in healthcheck_command(db)


def test_migrate_runs_db_upgrade_once(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["minitwit", "db", "upgrade"]
    assert migrate["image"] == services["web"]["image"]
    assert migrate["deploy"]["restart_policy"]["condition"] == "on-failure"
    assert migrate["deploy"].get("replicas", 1) == 1


def test_postgres_max_connections_covers_every_pool_during_a_rolling_update(
    services: dict[str, Any], web: dict[str, Any], web_command: list[str]
) -> None:
    db_command = " ".join(services["db"]["command"])
    max_connections = int(re.findall(r"max_connections=(\d+)", db_command)[0])
    env = environment(web)
    # The engine has no overflow: DB_POOL_SIZE is each process's ceiling.
    per_process = int(env["DB_POOL_SIZE"])
    workers = int(option(web_command, "--workers"))
    # start-first runs one extra replica while the update is in flight.
    peak = (web["deploy"]["replicas"] + 1) * workers * per_process
    budget = peak + POSTGRES_RESERVED_CONNECTIONS + CONNECTION_HEADROOM
    assert budget <= max_connections


def test_prometheus_scrapes_every_web_task_on_the_web_port(
    services: dict[str, Any], web_port: int
) -> None:
    targets = services["prometheus"]["configs"][0]["target"]
    assert targets == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    discovery = [
        sd
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        if "tasks.web" in sd["names"]
    ]
    assert discovery, "no scrape job discovers tasks.web"
    assert all(sd["type"] == "A" and sd["port"] == web_port for sd in discovery)


@pytest.mark.parametrize("name", ["prometheus", "proxy"])
def test_service_that_reaches_web_shares_a_network_with_it(
    services: dict[str, Any], web: dict[str, Any], name: str
) -> None:
    assert set(services[name]["networks"]) & set(web["networks"])


def test_proxy_publishes_port_80(services: dict[str, Any]) -> None:
    published = [
        port["published"] if isinstance(port, dict) else int(port.split(":")[0])
        for port in services["proxy"]["ports"]
    ]
    assert published == [80]


def test_proxy_upstream_points_at_the_web_port(nginx_conf: str, web_port: int) -> None:
    servers = re.findall(r"^\s*server\s+((?:tasks\.)?web):(\d+)\b", nginx_conf, re.M)
    assert servers
    assert {int(port) for _, port in servers} == {web_port}
    assert "proxy_pass http://minitwit_web;" in nginx_conf


def test_proxy_keeps_upstream_alive_when_clients_send_connection_close(
    nginx_conf: str,
) -> None:
    assert "proxy_http_version 1.1;" in nginx_conf
    assert 'proxy_set_header Connection "";' in nginx_conf
    assert re.search(r"^\s*keepalive \d+;", nginx_conf, re.M)


def test_proxy_streams_instead_of_buffering_and_hides_metrics(nginx_conf: str) -> None:
    assert "proxy_buffering off;" in nginx_conf
    assert "proxy_request_buffering off;" in nginx_conf
    assert re.search(r"location = /metrics\s*\{\s*return 404;", nginx_conf)


def test_every_config_file_the_stack_mounts_exists(stack: dict[str, Any]) -> None:
    for name, config in stack["configs"].items():
        assert (ROOT / config["file"]).is_file(), name


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    build_args = dict(arg.split("=", 1) for arg in dockerfile_arguments("ARG"))
    images = [line.split()[0] for line in dockerfile_arguments("FROM")]
    stages = [re.sub(r"\$\{(\w+)\}", lambda m: build_args[m.group(1)], image) for image in images]
    assert len(stages) >= 2
    assert set(stages) == {"python:3.11-slim"}
    assert any("--from=" in copy for copy in dockerfile_arguments("COPY"))


def test_dockerfile_installs_the_package_without_test_extras() -> None:
    runs = " ".join(dockerfile_arguments("RUN"))
    assert "pip install -c constraints.txt ." in runs
    assert "[test]" not in runs
    assert "[dev]" not in runs


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = dockerfile_arguments("USER")
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_healthcheck_probes_liveness_with_python() -> None:
    (healthcheck,) = dockerfile_arguments("HEALTHCHECK")
    assert "urllib.request" in healthcheck
    assert "/health/live" in healthcheck
    assert "curl" not in healthcheck


def test_dockerfile_cmd_is_minitwit_serve_in_exec_form() -> None:
    cmd = image_cmd()
    assert cmd[:2] == ["minitwit", "serve"]
    assert option(cmd, "--host") == "0.0.0.0"  # noqa: S104 - the container's port
    assert int(option(cmd, "--workers")) >= 1


def test_dockerfile_sets_python_env_and_web_dir() -> None:
    env = " ".join(dockerfile_arguments("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    assert "MINITWIT_WEB_DIR=/app/web" in env
    assert any(copy.split()[-1] == "/app/web/" for copy in dockerfile_arguments("COPY"))


def test_dockerfile_entrypoint_script_exists() -> None:
    copies = [c for c in dockerfile_arguments("COPY") if "entrypoint" in c]
    assert copies
    source = copies[0].split()[-2]
    assert (ROOT / source).is_file()


def test_dockerignore_keeps_repository_and_local_artefacts_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    for pattern in [".git", ".venv", ".pytest_cache", "tests", "*.db"]:
        assert pattern in lines
    assert "web" not in lines
    assert "!infra/docker/" in lines


@pytest.mark.parametrize("metric", APP_METRICS)
def test_grafana_dashboard_queries_each_app_metric(dashboard: dict[str, Any], metric: str) -> None:
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert any(re.search(rf"\b{metric}(_bucket)?\b", e) for e in expressions)


@pytest.mark.parametrize("title", ["Request rate", "p99 latency", "Error rate", "Timeline latency"])
def test_grafana_dashboard_has_the_operational_panels(
    dashboard: dict[str, Any], title: str
) -> None:
    assert any(p["title"].startswith(title) for p in dashboard["panels"])


def test_grafana_dashboard_uses_the_provisioned_datasource(
    dashboard: dict[str, Any],
) -> None:
    provisioning = INFRA / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    assert uids == {datasource["uid"]}


def test_grafana_loads_the_dashboard_from_where_the_stack_mounts_it(
    services: dict[str, Any],
) -> None:
    provider_file = INFRA / "grafana" / "provisioning" / "dashboards" / "minitwit.yml"
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    targets = [c["target"] for c in services["grafana"]["configs"]]
    assert f"{provider['options']['path']}/minitwit.json" in targets


@pytest.mark.parametrize(
    ("shell", "script"),
    [
        ("bash", "infra/deploy.sh"),
        ("bash", "infra/terraform/scripts/swarm-join-tokens.sh"),
        ("sh", "infra/docker/entrypoint.sh"),
    ],
)
def test_shell_script_parses(shell: str, script: str) -> None:
    interpreter = shutil.which(shell)
    if interpreter is None:
        pytest.skip(f"{shell} not installed")
    result = subprocess.run(
        [interpreter, "-n", str(ROOT / script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
