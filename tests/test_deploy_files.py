"""The deployment files agree with each other and with the service they deploy.

These tests read Dockerfile, docker-stack.yml (with docker-stack.grafana.yml, as deploy.sh
deploys them) and the configuration under infra/ and pin the properties a deploy relies on;
infra/test/stack.sh (tests/test_stack.py) deploys them for real.
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
# The migrate task (2: engine and advisory lock), pg_dump of the backup service (1) and
# operators' sessions (5).
CONNECTION_HEADROOM = 8
READINESS_CONNECTIONS = 1
LISTENER_CONNECTIONS = 1  # live timelines: one LISTEN connection per worker


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


IMAGE_VARIABLE = re.compile(r"\$\{(MINITWIT_[A-Z_]+_IMAGE):-([^}]+)\}")


def default_image(service: dict[str, Any]) -> str:
    """The image a service runs when the site names none: the default of its variable."""
    match = IMAGE_VARIABLE.fullmatch(service["image"])
    assert match is not None, service["image"]
    return match.group(2)


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


STACK_FILES = ("docker-stack.yml", "docker-stack.grafana.yml")


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """The stack as deploy.sh deploys it by default: its files merged, as the CLI does."""
    merged: dict[str, Any] = {}
    for name in STACK_FILES:
        data = yaml.safe_load((ROOT / name).read_text())
        assert isinstance(data, dict)
        for key, value in data.items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return merged


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


def test_web_healthcheck_waits_for_readiness_on_the_web_port(
    web: dict[str, Any], web_port: int
) -> None:
    """minitwit.healthcheck: ready once (schema at head), then alive (tests/test_healthcheck)."""
    assert healthcheck_command(web) == f"CMD python -m minitwit.healthcheck {web_port}"
    # Long enough for the migrate task to finish before a new task counts as failed.
    assert seconds(web["healthcheck"]["start_period"]) >= 60


def test_only_the_migrate_service_migrates(services: dict[str, Any]) -> None:
    image = services["web"]["image"]
    for name, spec in services.items():
        if spec.get("image") != image or name == "migrate":
            continue
        command = spec.get("command") or image_cmd()
        if command[:2] == ["minitwit", "serve"]:
            assert environment(spec)["MINITWIT_MIGRATE_ON_START"] == "0", name
    assert environment(services["web"])["MINITWIT_MIGRATE_ON_START"] == "0"


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
    assert default_image(db).startswith("postgres:15")
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


def deploy_sh(*args: str) -> subprocess.CompletedProcess[str]:
    """deploy.sh with a Docker CLI that can reach no engine: a test never touches a swarm."""
    return subprocess.run(
        ["bash", str(INFRA / "deploy.sh"), *args],
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def budget(
    services: dict[str, Any], web: dict[str, Any], web_command: list[str], replicas: int
) -> tuple[int, int]:
    """(the connections ``replicas`` web replicas need at worst, max_connections), from the
    stack file and the image's command, independently of deploy.sh."""
    db_command = " ".join(services["db"]["command"])
    max_connections = int(re.findall(r"max_connections=(\d+)", db_command)[0])
    # The engine has no overflow: DB_POOL_SIZE is each process's ceiling, plus the readiness
    # check's own connection and the live timelines' listener.
    per_process = int(environment(web)["DB_POOL_SIZE"]) + READINESS_CONNECTIONS
    per_process += LISTENER_CONNECTIONS
    workers = int(option(web_command, "--workers"))
    # start-first runs one extra replica while the update is in flight.
    peak = (replicas + 1) * workers * per_process
    return peak + POSTGRES_RESERVED_CONNECTIONS + CONNECTION_HEADROOM, max_connections


def test_postgres_max_connections_covers_every_pool_during_a_rolling_update(
    services: dict[str, Any], web: dict[str, Any], web_command: list[str]
) -> None:
    needed, max_connections = budget(services, web, web_command, web["deploy"]["replicas"])
    assert needed <= max_connections
    # The course's project ran 10 replicas; the deployment test scales to 10.
    assert budget(services, web, web_command, 10)[0] <= max_connections


@pytest.mark.parametrize("replicas", [3, 10, 11, 12])
def test_deploy_sh_computes_the_budget_from_the_stack_and_the_image(
    services: dict[str, Any], web: dict[str, Any], web_command: list[str], replicas: int
) -> None:
    needed, max_connections = budget(services, web, web_command, replicas)
    result = deploy_sh("budget", str(replicas))
    assert result.returncode == 0, result.stderr
    verdict = "fits" if needed <= max_connections else "does NOT fit"
    assert f"worst case:  {needed} against max_connections {max_connections}: {verdict}" in (
        result.stdout
    )


def test_deploy_sh_refuses_a_scale_over_the_connection_budget(
    services: dict[str, Any], web: dict[str, Any], web_command: list[str]
) -> None:
    needed, max_connections = budget(services, web, web_command, 12)
    assert needed > max_connections
    result = deploy_sh("scale", "12")
    assert result.returncode == 1
    assert f"12 replicas need max_connections >= {needed} (have {max_connections})" in (
        result.stderr
    )


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


def test_proxy_publishes_http_and_https_on_the_host(services: dict[str, Any]) -> None:
    proxy = services["proxy"]
    ports = {port["target"]: port for port in proxy["ports"]}
    assert set(ports) == {80, 443}
    assert ports[80]["published"] == "${MINITWIT_HTTP_PORT:-80}"
    assert ports[443]["published"] == "${MINITWIT_HTTPS_PORT:-443}"
    # No routing mesh (it needs IP_VS, and hides the client's address): one proxy per node.
    assert {port["mode"] for port in ports.values()} == {"host"}
    assert proxy["deploy"]["mode"] == "global"
    # A host port is bound by one task at a time: the old proxy must stop first.
    assert proxy["deploy"]["update_config"]["order"] == "stop-first"


def test_no_service_needs_a_virtual_ip(services: dict[str, Any]) -> None:
    for name, spec in services.items():
        assert spec["deploy"].get("endpoint_mode") == "dnsrr", name


def test_proxy_sends_every_location_to_the_web_tasks_on_the_web_port(
    nginx_conf: str, web_port: int
) -> None:
    assert re.search(r"^\s*resolver 127\.0\.0\.11 valid=1s", nginx_conf, re.M)
    locations = re.findall(r"location (?:= |~ )?(\S+) \{(.*?)\n        \}", nginx_conf, re.S)
    proxied = [body for _, body in locations if "proxy_pass" in body]
    assert len(proxied) == 3  # /graphql, the simulator's writes, everything else
    for body in proxied:
        assert "set $web tasks.web;" in body
        assert f"proxy_pass http://$web:{web_port};" in body


def test_proxy_keeps_no_idle_upstream_connection(nginx_conf: str) -> None:
    assert "proxy_http_version 1.1;" in nginx_conf
    assert "proxy_set_header Connection $connection_upgrade;" in nginx_conf
    upgrade_map = re.search(r"map \$http_upgrade \$connection_upgrade \{(.*?)\}", nginx_conf, re.S)
    assert upgrade_map is not None
    assert re.search(r'^\s*""\s+close;', upgrade_map.group(1), re.M)
    assert "keepalive " not in nginx_conf.replace("keepalive_timeout", "")


def test_proxy_retries_only_what_is_safe_to_send_twice(nginx_conf: str) -> None:
    assert "proxy_next_upstream error timeout;" in nginx_conf
    # Bodies are read whole, so a request can be sent again; responses stream.
    assert "proxy_request_buffering off;" not in nginx_conf
    assert "proxy_buffering off;" in nginx_conf
    writes = re.search(
        r"location ~ \^/\(register\|msgs\|fllws\)\(/\|\$\) \{(.*?)\}", nginx_conf, re.S
    )
    assert writes is not None
    assert "proxy_next_upstream error timeout non_idempotent;" in writes.group(1)
    assert nginx_conf.count("non_idempotent") == 1
    assert re.search(r"location = /metrics\s*\{\s*return 404;", nginx_conf)


def test_proxy_terminates_tls_and_moves_http_to_https(nginx_conf: str) -> None:
    assert "listen 443 ssl default_server;" in nginx_conf
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in nginx_conf
    assert "return 308 https://$host$request_uri;" in nginx_conf
    assert re.search(r'add_header Strict-Transport-Security "max-age=\d+.*" always;', nginx_conf)
    assert "ssl_stapling on;" in nginx_conf
    assert "location /.well-known/acme-challenge/" in nginx_conf


def test_proxy_reads_its_certificate_from_swarm_secrets(stack: dict[str, Any]) -> None:
    proxy = stack["services"]["proxy"]
    targets = {secret["source"]: secret["target"] for secret in proxy["secrets"]}
    assert targets == {
        "minitwit_tls_cert": "tls_fullchain.pem",
        "minitwit_tls_key": "tls_privkey.pem",
    }
    assert (
        stack["secrets"]["minitwit_tls_cert"]["name"]
        == "minitwit_tls_cert_${TLS_CERT_HASH:-initial}"
    )
    entrypoint = (INFRA / "docker" / "edge-entrypoint.sh").read_text()
    assert "/run/secrets" in entrypoint
    assert proxy["entrypoint"] == ["/usr/local/bin/minitwit-edge"]


def test_every_config_file_the_stack_mounts_exists(stack: dict[str, Any]) -> None:
    for name, config in stack["configs"].items():
        assert (ROOT / config["file"]).is_file(), name


def test_dockerfile_is_multi_stage_on_an_exact_python_311_slim() -> None:
    build_args = dict(arg.split("=", 1) for arg in dockerfile_arguments("ARG"))
    images = [line.split()[0] for line in dockerfile_arguments("FROM")]
    stages = [re.sub(r"\$\{(\w+)\}", lambda m: build_args[m.group(1)], image) for image in images]
    assert len(stages) >= 2
    (base,) = set(stages)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
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


def test_dockerfile_healthcheck_is_the_python_module() -> None:
    (healthcheck,) = dockerfile_arguments("HEALTHCHECK")
    assert healthcheck.endswith('CMD ["python", "-m", "minitwit.healthcheck", "8000"]')
    assert "curl" not in healthcheck


def test_dockerfile_installs_the_postgresql_client_of_the_servers_major_version(
    services: dict[str, Any],
) -> None:
    runs = " ".join(dockerfile_arguments("RUN"))
    major = re.match(r"postgres:(\d+)", default_image(services["db"]))
    assert major is not None
    assert f"postgresql-client-{major.group(1)}" in runs


def test_constraints_pin_every_runtime_dependency_exactly() -> None:
    lines = [
        line
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][^\s]*", line) for line in lines), lines
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in lines}
    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index("dependencies = [") : text.index("]", text.index("dependencies = ["))]
    direct = {re.split(r"[<>=\[]", d)[0].lower() for d in re.findall(r'"([^"]+)"', block)}
    assert direct <= pinned


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


def test_dockerfile_has_no_entrypoint_and_ships_the_backup_schedule(
    services: dict[str, Any],
) -> None:
    # Settings read DATABASE_URL_FILE themselves: nothing stands between Docker and the command.
    assert dockerfile_arguments("ENTRYPOINT") == []
    copies = [c for c in dockerfile_arguments("COPY") if "backup-schedule" in c]
    source, target = copies[0].split()[-2:]
    assert (ROOT / source).is_file()
    assert services["backup"]["command"] == [target.rsplit("/", 1)[1]]


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
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"}
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
        ("sh", "infra/docker/postgres-guard.sh"),
        ("sh", "infra/docker/backup-schedule.sh"),
        ("sh", "infra/docker/edge-entrypoint.sh"),
        ("sh", "infra/images/postgres/docker-entrypoint.sh"),
        ("bash", "infra/images/build.sh"),
        ("bash", "infra/test/stack.sh"),
        ("bash", "infra/test/compose.sh"),
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


def test_every_service_rotates_its_container_logs(services: dict[str, Any]) -> None:
    for name, spec in services.items():
        logging = spec.get("logging")
        assert logging is not None, name
        assert logging["driver"] == "json-file", name
        assert logging["options"]["max-size"], name
        assert int(logging["options"]["max-file"]) >= 1, name


def test_every_image_is_pinned_to_an_exact_version(services: dict[str, Any]) -> None:
    for name, spec in services.items():
        if spec["image"].startswith("${MINITWIT_IMAGE"):
            continue  # our own image, tagged with the git revision by the pipeline
        # Each can be named by the site (a mirror, images built here); the default is pinned.
        repository, tag = default_image(spec).rsplit(":", 1)
        # PostgreSQL's releases are MAJOR.MINOR; everything else here is MAJOR.MINOR.PATCH.
        version = r"\d+\.\d+" if repository == "postgres" else r"v?\d+\.\d+\.\d+"
        pattern = rf"{version}(-[a-z0-9]+)*(@sha256:[0-9a-f]{{64}})?"
        assert re.fullmatch(pattern, tag), (name, spec["image"])


def test_web_trusts_forwarded_headers_only_from_the_edge_network(
    stack: dict[str, Any], web: dict[str, Any]
) -> None:
    trusted = environment(web)["FORWARDED_ALLOW_IPS"]
    assert trusted != "*"
    (subnet,) = [c["subnet"] for c in stack["networks"]["edge"]["ipam"]["config"]]
    assert trusted == subnet


def test_proxy_sets_x_forwarded_for_instead_of_appending_to_the_clients(nginx_conf: str) -> None:
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx_conf
    assert "$proxy_add_x_forwarded_for" not in nginx_conf


def test_grafana_is_published_only_on_its_own_node(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    assert [port["mode"] for port in grafana["ports"]] == ["host"]
    assert grafana["deploy"]["placement"]["constraints"] == [
        "node.labels.minitwit.monitoring == true"
    ]
    assert grafana["deploy"]["update_config"]["order"] == "stop-first"


def test_db_starts_through_the_volume_guard(stack: dict[str, Any]) -> None:
    db = stack["services"]["db"]
    (guard,) = [c for c in db["configs"] if c["source"] == "postgres_guard"]
    assert db["entrypoint"] == [guard["target"].rsplit("/", 1)[1]]
    assert guard["target"].startswith("/usr/local/bin/")
    assert stack["configs"]["postgres_guard"]["file"] == "./infra/docker/postgres-guard.sh"
    assert db["command"][:2] == ["docker-entrypoint.sh", "postgres"]
    # The guard looks for the marker next to PGDATA, at the root of the mounted volume.
    pgdata = environment(db)["PGDATA"]
    mount = db["volumes"][0].split(":")[1]
    assert pgdata.rsplit("/", 1)[0] == mount
    cloud_init = (INFRA / "terraform" / "cloud-init" / "manager.yaml.tftpl").read_text()
    assert 'touch "$mount_point/.minitwit-volume"' in cloud_init


def test_backups_go_to_a_volume_other_than_the_databases(stack: dict[str, Any]) -> None:
    backup = stack["services"]["backup"]
    volume, target = backup["volumes"][0].split(":")
    assert environment(backup)["MINITWIT_BACKUP_DIR"] == target
    device = stack["volumes"][volume]["driver_opts"]["device"]
    assert device != stack["volumes"]["db-data"]["driver_opts"]["device"]
    assert "minitwit_database_url" in secret_names(backup)
    assert int(environment(backup)["MINITWIT_BACKUP_KEEP"]) >= 1
    main_tf = (INFRA / "terraform" / "main.tf").read_text()
    assert 'resource "digitalocean_volume" "backups"' in main_tf
    assert device.split(":-")[1].rstrip("}") in main_tf


def test_monitoring_services_share_a_network_with_what_they_read(
    services: dict[str, Any],
) -> None:
    monitoring = {"prometheus", "alertmanager", "blackbox", "node-exporter", "loki", "alloy"}
    for name in monitoring | {"grafana"}:
        assert "monitoring" in services[name]["networks"], name
    assert services["node-exporter"]["deploy"]["mode"] == "global"
    assert services["alloy"]["deploy"]["mode"] == "global"


def test_alloy_reads_the_docker_daemon_and_pushes_to_loki(services: dict[str, Any]) -> None:
    alloy = services["alloy"]
    sockets = [v for v in alloy["volumes"] if isinstance(v, dict) and "docker.sock" in v["source"]]
    assert sockets
    assert sockets[0]["read_only"] is True
    config = (INFRA / "alloy" / "config.alloy").read_text()
    assert 'url = "http://loki:3100/loki/api/v1/push"' in config
    for field in ("level", "request_id", "route", "status"):
        assert re.search(rf"\b{field}\s*=", config), field
    # Labels stay few: only level becomes a stream label.
    labels = re.search(r"stage\.labels \{\s*values = \{([^}]*)\}", config)
    assert labels is not None
    assert labels.group(1).split("=")[0].strip() == "level"


def test_loki_keeps_logs_for_a_bounded_time() -> None:
    loki = yaml.safe_load((INFRA / "loki" / "loki.yml").read_text())
    assert loki["compactor"]["retention_enabled"] is True
    hours = int(loki["limits_config"]["retention_period"].removesuffix("h"))
    assert 24 <= hours <= 90 * 24
    assert loki["limits_config"]["allow_structured_metadata"] is True
    assert loki["schema_config"]["configs"][-1]["schema"] == "v13"


def test_grafana_has_a_loki_datasource_at_the_loki_service(services: dict[str, Any]) -> None:
    provisioning = INFRA / "grafana" / "provisioning" / "datasources"
    (loki,) = yaml.safe_load((provisioning / "loki.yml").read_text())["datasources"]
    assert loki["type"] == "loki"
    assert loki["url"] == "http://loki:3100"
    targets = [c["target"] for c in services["grafana"]["configs"]]
    assert "/etc/grafana/provisioning/datasources/loki.yml" in targets


BUSINESS_AND_DATABASE_METRICS = [
    "minitwit_users_registered_total",
    "minitwit_messages_posted_total",
    "minitwit_follows_total",
    "minitwit_unfollows_total",
    "minitwit_messages_flagged_total",
    "minitwit_messages_unflagged_total",
    "minitwit_sign_ins_total",
    "minitwit_db_pool_size",
    "minitwit_db_pool_checked_out",
    "minitwit_db_pool_waits_total",
    "minitwit_db_query_duration_seconds_bucket",
]


@pytest.mark.parametrize("metric", BUSINESS_AND_DATABASE_METRICS)
def test_grafana_has_business_and_database_rows_for_each_metric(
    dashboard: dict[str, Any], metric: str
) -> None:
    rows = [p for p in dashboard["panels"] if p["type"] == "row"]
    assert {"Business", "Database"} <= {row["title"] for row in rows}
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert any(re.search(rf"\b{metric}\b", e) for e in expressions)


def test_prometheus_loads_the_rules_and_probes_readiness(
    services: dict[str, Any], web_port: int
) -> None:
    targets = {c["target"] for c in services["prometheus"]["configs"]}
    assert "/etc/prometheus/rules/minitwit.rules.yml" in targets
    config = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    (ready,) = [job for job in config["scrape_configs"] if job["job_name"] == "minitwit-ready"]
    replacements = [rule.get("replacement") for rule in ready["relabel_configs"]]
    assert "http://${1}/health/ready" in replacements
    assert "blackbox:9115" in replacements
    assert ready["dns_sd_configs"][0]["port"] == web_port
    blackbox = yaml.safe_load((INFRA / "blackbox" / "blackbox.yml").read_text())
    assert ready["params"]["module"] == ["minitwit_ready"]
    assert blackbox["modules"]["minitwit_ready"]["http"]["valid_status_codes"] == [200]


def test_too_few_replicas_alert_expects_the_stacks_replica_count(web: dict[str, Any]) -> None:
    rules = (INFRA / "prometheus" / "rules" / "minitwit.rules.yml").read_text()
    assert f'count(up{{job="minitwit-web"}} == 1) < {web["deploy"]["replicas"]}' in rules


def test_every_config_the_stack_uses_is_hashed_by_deploy_sh(stack: dict[str, Any]) -> None:
    deploy_sh = (INFRA / "deploy.sh").read_text()
    for name, config in stack["configs"].items():
        variable = re.search(r"\$\{(\w+_HASH):-initial\}", config["name"])
        assert variable is not None, name
        assert f'{variable.group(1)}="$(file_hash {config["file"].removeprefix("./")})"' in (
            deploy_sh
        ), name


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "deliver.yml").read_text())
    assert isinstance(data, dict)
    return data


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) + str(step.get("uses", "")) for step in job["steps"])


def test_workflow_runs_ci_then_builds_pushes_and_deploys(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert ".ci/run" in steps_text(jobs["test"])
    assert jobs["build"]["needs"] == "test"
    build = steps_text(jobs["build"])
    assert "git rev-parse --short=12 HEAD" in build
    assert 'docker build -t "$MINITWIT_IMAGE:${{ steps.revision.outputs.tag }}" .' in build
    assert 'docker push "$MINITWIT_IMAGE:${{ steps.revision.outputs.tag }}"' in build
    assert jobs["deploy"]["needs"] == "build"
    assert "infra/deploy.sh deploy" in steps_text(jobs["deploy"])
    deploy_env = next(s["env"] for s in jobs["deploy"]["steps"] if "env" in s)
    assert deploy_env["MINITWIT_TAG"] == "${{ needs.build.outputs.tag }}"
    assert "docker stack deploy" in (INFRA / "deploy.sh").read_text()


def test_workflow_rolls_back_to_a_named_revision(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))
    assert "revision" in triggers["workflow_dispatch"]["inputs"]
    rollback = workflow["jobs"]["rollback"]
    assert "inputs.revision != ''" in rollback["if"]
    assert 'infra/deploy.sh rollback "$REVISION"' in steps_text(rollback)
    assert "inputs.revision == ''" in workflow["jobs"]["test"]["if"]


DOCKERFILES = [ROOT / "Dockerfile", *sorted((INFRA / "images").glob("*/Dockerfile"))]


@pytest.mark.parametrize(
    "dockerfile", DOCKERFILES, ids=[str(p.relative_to(ROOT)) for p in DOCKERFILES]
)
def test_every_dockerfile_says_why_it_ignores_a_hadolint_rule(dockerfile: Path) -> None:
    # hadolint itself runs in .ci/run, beside ruff and mypy (a GPL-3.0 binary kept out of
    # the project's pinned dependencies).
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        if match := re.match(r"# hadolint ignore=(\S+)", line):
            above = "\n".join(lines[max(0, number - 3) : number])
            for rule in match.group(1).split(","):
                assert f"# {rule} (" in above, f"{dockerfile}:{number + 1}: why is {rule} ignored?"


@pytest.mark.parametrize(
    "dockerfile", DOCKERFILES, ids=[str(p.relative_to(ROOT)) for p in DOCKERFILES]
)
def test_every_dockerfile_builds_without_buildkit_and_pulls_no_frontend(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert not re.search(r"^# *syntax=", text, re.M | re.I)  # BuildKit would pull a frontend
    for instruction in dockerfile_like_instructions(text):
        # BuildKit-only flags and heredocs fail on the classic builder.
        assert not re.search(r"--(chmod|mount|link|parents|exclude|checksum)\b", instruction)
        assert "<<" not in instruction.split("\n", 1)[0]
    base = re.search(r"^ARG (\w+)=\S+$", text, re.M)
    assert base is not None, "the base is a build argument"
    assert re.search(rf"^FROM \$\{{{base.group(1)}\}}", text, re.M), "the base is a build argument"


def dockerfile_like_instructions(text: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", text)
    return [line for line in joined.splitlines() if line and not line.startswith("#")]


def test_every_image_can_be_named_from_the_environment(services: dict[str, Any]) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    for name, spec in [*services.items(), *compose.items()]:
        image = spec["image"]
        assert image.startswith("${MINITWIT_"), (name, image)


SHELL_SCRIPTS = sorted(
    str(path.relative_to(ROOT))
    for path in [*INFRA.rglob("*.sh"), ROOT / ".ci" / "run", ROOT / ".ci" / "pin"]
    if "terraform" not in path.parts
)


@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_shell_script_passes_shellcheck(script: str) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (Debian: apt-get install shellcheck)")
    result = subprocess.run(
        [shellcheck, str(ROOT / script)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout
