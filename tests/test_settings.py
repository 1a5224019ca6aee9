import re
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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("off", False)],
)
def test_booleans_take_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Settings.from_env({"MINITWIT_LOG_JSON": raw}).log_json is expected


@pytest.mark.parametrize("raw", ["ture", "flase", "2", "enabled"])
def test_a_misspelt_boolean_is_an_error_naming_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"MINITWIT_MIGRATE_ON_START": raw})
    assert str(error.value) == (
        f"MINITWIT_MIGRATE_ON_START must be a boolean: 1/0, true/false, yes/no or on/off, "
        f"not {raw!r}"
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MINITWIT_PAGE_SIZE": "1.5"}, "MINITWIT_PAGE_SIZE must be a valid integer"),
        ({"MINITWIT_MAX_MESSAGE_LENGTH": "0"}, "MINITWIT_MAX_MESSAGE_LENGTH must be greater"),
        ({"MINITWIT_ENV": "staging"}, "MINITWIT_ENV must be 'development' or 'production'"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL must be a sqlite:// or postgresql://"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of"),
    ],
)
def test_each_error_names_its_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=f"^{re.escape(message)}"):
        Settings.from_env(environ)


def test_errors_never_repeat_a_secret_or_a_database_password() -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"DATABASE_URL": "mysql://me:hunter2@db/x", "SIMULATOR_AUTH": ""})
    assert "hunter2" not in str(error.value)
    assert "me:***@db" in str(error.value)


def test_empty_variables_mean_the_default() -> None:
    assert Settings.from_env({"MINITWIT_PAGE_SIZE": "", "MINITWIT_LOG_JSON": ""}) == Settings()


def test_a_dotenv_file_fills_in_what_the_environment_does_not_set(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "MINITWIT_PAGE_SIZE=7\nMINITWIT_LOG_JSON=false\n"
        f"SECRET_KEY_FILE={secret}\n"
        "POSTGRES_PASSWORD=for-docker-compose\n"  # another tool's variable is no error
    )
    settings = Settings.from_env({"MINITWIT_PAGE_SIZE": "9"}, env_file=dotenv)
    assert (settings.page_size, settings.log_json, settings.secret_key) == (9, False, "from-a-file")
    # a secret set in the environment wins, and the .env's file is then not even read
    secret.unlink()
    assert Settings.from_env({"SECRET_KEY": "env"}, env_file=dotenv).secret_key == "env"


def test_a_misspelt_boolean_in_dotenv_is_an_error_too(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("MINITWIT_LOG_JSON=ture\n")
    with pytest.raises(SettingsError, match=r"^MINITWIT_LOG_JSON must be a boolean"):
        Settings.from_env({}, env_file=dotenv)


def test_constructing_settings_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINITWIT_PAGE_SIZE", "7")
    monkeypatch.setenv("MINITWIT_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    assert Settings().page_size == 30
    assert not Settings().production
    assert Settings.from_env(env_file=None).page_size == 7


def test_code_gets_the_same_checks_as_the_environment() -> None:
    with pytest.raises(SettingsError, match=r"^MINITWIT_PAGE_SIZE must be greater than or equal"):
        Settings(page_size=0)
    with pytest.raises(SettingsError, match="SECRET_KEY must be set"):
        Settings().with_(env="production")
    with pytest.raises(SettingsError, match=r"^colour is not a setting"):
        Settings(colour="blue")
    assert Settings().with_(env="production", secret_key="x" * 32).production
