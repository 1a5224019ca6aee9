from pathlib import Path

import pytest

from minitwit.settings import DEFAULT_SIMULATOR_AUTH, Settings, SettingsError


def test_defaults_are_a_sqlite_file_in_the_working_directory_and_development() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == f"sqlite:///{Path.cwd() / 'minitwit.sqlite3'}"
    assert settings.env == "development"
    assert settings.simulator_auth == DEFAULT_SIMULATOR_AUTH
    assert settings.page_size == 30
    assert settings.rest_max_no == 10_000


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgres_urls_are_normalised_to_psycopg2(given: str, expected: str) -> None:
    assert Settings.from_env({"DATABASE_URL": given}).database_url == expected


def test_production_refuses_to_start_without_a_secret_key() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"MINITWIT_ENV": "production"})


def test_production_refuses_the_development_key() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"MINITWIT_ENV": "production", "SECRET_KEY": "development key"})


def test_secret_key_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-from-a-docker-secret\n")
    settings = Settings.from_env({"MINITWIT_ENV": "production", "SECRET_KEY_FILE": str(secret)})
    assert settings.secret_key == "s3cret-from-a-docker-secret"


def test_database_url_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "database_url"
    secret.write_text("postgresql://minitwit:pw@db:5432/minitwit\n")
    settings = Settings.from_env({"DATABASE_URL_FILE": str(secret)})
    assert settings.database_url == "postgresql+psycopg2://minitwit:pw@db:5432/minitwit"


def test_database_url_itself_wins_over_the_file(tmp_path: Path) -> None:
    environ = {"DATABASE_URL": "sqlite:///x.db", "DATABASE_URL_FILE": str(tmp_path / "absent")}
    assert Settings.from_env(environ).database_url == "sqlite:///x.db"


@pytest.mark.parametrize("var", ["DATABASE_URL_FILE", "SECRET_KEY_FILE"])
def test_an_unreadable_or_empty_secret_file_is_a_clear_error(tmp_path: Path, var: str) -> None:
    with pytest.raises(SettingsError, match=f"{var} cannot be read"):
        Settings.from_env({var: str(tmp_path / "absent")})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SettingsError, match=f"{var} names an empty file"):
        Settings.from_env({var: str(empty)})


@pytest.mark.parametrize(
    "environ",
    [
        {"MINITWIT_ENV": "staging"},
        {"DB_POOL_SIZE": "ten"},
        {"DB_POOL_SIZE": "0"},
        {"MINITWIT_REST_PREFIX": "api"},
        {"MINITWIT_MAX_NO": "-5"},
        {"MINITWIT_BODY_TIMEOUT": "soon"},
        {"MINITWIT_BODY_TIMEOUT": "0"},
        {"MINITWIT_BODY_TIMEOUT": "nan"},
        {"MINITWIT_BODY_TIMEOUT": "inf"},
    ],
)
def test_nonsense_configuration_is_refused_with_a_clear_error(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(environ)


def test_the_body_timeout_takes_fractions_of_a_second() -> None:
    assert Settings.from_env({"MINITWIT_BODY_TIMEOUT": "2.5"}).body_timeout == 2.5
    assert Settings.from_env({}).body_timeout == 30.0
