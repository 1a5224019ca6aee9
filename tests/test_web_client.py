"""The web client's server side (minitwit/web/client.py), in-process through the ASGI app: the
shells built from one layout, the settings they carry, the 404s, the favicon and GraphiQL's page
on vendored assets. What only a browser can show is in tests/browser/test_web_client.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import strawberry

from minitwit.app import create_app
from minitwit.db.database import Database
from minitwit.http.security import CONTENT_SECURITY_POLICY
from minitwit.settings import Settings
from minitwit.web.client import WebClient
from tests.asgi import AppClient
from tests.factories import PASSWORD, make_user
from tests.servers import REPO, TEST_SECRET

WEB_DIR = REPO / "web"
VENDOR = WEB_DIR / "static" / "vendor" / "graphiql"
LOCK = REPO / "scripts" / "graphiql.lock.json"
ORIGIN = "http://testserver"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
SIGNED_OUT_PAGES = ["/public", "/login", "/register", "/logout"]


def _app_client(settings: Settings) -> Iterator[AppClient]:
    db = Database(settings)
    make_user(db, "ann")
    with AppClient(create_app(settings, db=db), headers={"Origin": ORIGIN}) as client:
        yield client
    db.dispose()


@pytest.fixture
def sqlite_settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    """Most of these pages touch no database: SQLite alone, migrated from the template."""
    path = tmp_path / "minitwit.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return Settings(
        database_url=f"sqlite:///{path}", secret_key=TEST_SECRET, migrate_on_start=False
    )


@pytest.fixture
def web(sqlite_settings: Settings) -> Iterator[AppClient]:
    yield from _app_client(sqlite_settings)


@pytest.fixture
def web_on_each_backend(settings: Settings) -> Iterator[AppClient]:
    yield from _app_client(settings)


def sign_in(client: AppClient, username: str = "ann") -> None:
    response = client.post(
        "/graphql", json={"query": LOGIN, "variables": {"u": username, "p": PASSWORD}}
    )
    assert response.json() == {"data": {"login": {"username": username}}}


def heading(page: str) -> re.Match[str]:
    found = re.search(r'<h2 id="page-title"( hidden)?>([^<]*)</h2>', page)
    assert found is not None, page
    return found


@pytest.mark.parametrize(
    ("path", "title", "status_line"),
    [
        ("/public", "Public Timeline", "Loading\u2026"),
        ("/login", "Sign In", ""),
        ("/register", "Sign Up", ""),
        ("/logout", "Sign Out", "Signing you out\u2026"),
    ],
)
def test_every_page_is_the_one_layout_with_its_frame_filled_in(
    web: AppClient, path: str, title: str, status_line: str
) -> None:
    response = web.get(path, headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert f"<title>{title} | MiniTwit</title>" in page
    assert heading(page).groups() == (None, title)
    assert "<h1>MiniTwit</h1>" in page
    assert f'<div id="status" class="status" role="status">{status_line}</div>' in page
    assert "MiniTwit &mdash; a small microblog: " in page
    assert page.count("<header>") == page.count("<footer>") == page.count("<main ") == 1
    assert "$" not in page, "a placeholder of the layout was left unfilled"


def test_pages_show_the_navigation_before_any_data(web: AppClient) -> None:
    signed_out = web.get("/public", headers=HTML).text
    assert (
        '<a href="/public" aria-current="page">public timeline</a> | '
        '<a href="/register">sign up</a> | <a href="/login">sign in</a>'
    ) in signed_out
    sign_in(web)
    signed_in = web.get("/public", headers=HTML).text
    assert (
        '<a href="/">my timeline</a> | <a href="/public" aria-current="page">public timeline</a>'
        ' | <a href="/logout">sign out</a>'
    ) in signed_in
    assert "ann" not in signed_in, "the shells hold no user data; the script adds the name"


def test_the_message_length_setting_reaches_the_twitbox(sqlite_settings: Settings) -> None:
    for client in _app_client(sqlite_settings.with_(max_message_length=140)):
        page = client.get("/public", headers=HTML).text
        assert re.search(
            r'<input type="text" name="text" id="text" [^>]*data-max-length="140"', page
        )
        assert "140 characters left" in page
        assert "maxlength" not in page, "over the limit is refused with a message, never cut"


def test_each_page_preloads_its_scripts_whole_import_graph(web: AppClient) -> None:
    imports = re.compile(r"""\bfrom\s*'(\.{1,2}/[^']+)'""")
    for path in SIGNED_OUT_PAGES:
        page = web.get(path, headers=HTML).text
        entries = re.findall(r'<script type="module" src="(/static/js/pages/[a-z_]+\.js)">', page)
        assert len(entries) == 1, page
        preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', page))
        for module in [entries[0], *sorted(preloaded)]:
            response = web.get(module)
            assert response.status_code == 200, module
            base = module.rsplit("/", 1)[0]
            for target in imports.findall(response.text):
                resolved = str(Path(base, target).resolve())
                assert resolved in preloaded, f"{module} imports {target}, not preloaded"
        assert preloaded, path


def test_pages_carry_no_inline_code_and_the_strict_policy(web: AppClient) -> None:
    for path in [*SIGNED_OUT_PAGES, "/no/such/page", "/graphql"]:
        response = web.get(path, headers=HTML)
        page = response.text
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert scripts
        assert all(' src="/static/' in tag for tag in scripts), scripts
        assert "<style" not in page
        assert not re.search(r"\sstyle=|\son[a-z]+=", page)
        assert not re.search(r'(src|href)="(https?:)?//', page), "nothing from another host"


def test_a_known_users_page_shows_no_heading_until_the_data_names_them(web: AppClient) -> None:
    response = web.get("/ann", headers=HTML)
    assert response.status_code == 200
    assert heading(response.text).groups() == (" hidden", "")
    assert "<title>MiniTwit</title>" in response.text


def test_an_unknown_users_page_is_the_404_page_from_the_start(
    web_on_each_backend: AppClient,
) -> None:
    response = web_on_each_backend.get("/nosuchuser", headers=HTML)
    assert response.status_code == 404
    assert heading(response.text).groups() == (None, "404 Not Found")
    assert "<title>Not Found | MiniTwit</title>" in response.text
    assert "nosuchuser" not in response.text
    assert "The requested URL was not found on the server." in response.text


def test_an_unknown_path_is_a_styled_page_for_browsers_only(web: AppClient) -> None:
    page = web.get("/no/such/page", headers=HTML)
    assert page.status_code == 404
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-store"
    assert heading(page.text).groups() == (None, "404 Not Found")
    assert '<link rel="stylesheet" href="/static/style.css">' in page.text

    for method, headers in [("GET", {"Accept": "*/*"}), ("POST", HTML), ("GET", {})]:
        plain = web.request(method, "/no/such/page", headers=headers)
        assert plain.status_code == 404
        assert plain.headers["Content-Type"].startswith("text/plain")
        assert plain.text == "Not Found"
    missing = web.get("/static/js/no-such-module.js", headers={"Accept": "*/*"})
    assert (missing.status_code, missing.text) == (404, "Not Found")


def test_the_simulators_404s_are_unchanged_even_when_html_is_accepted(
    web: AppClient, sqlite_settings: Settings
) -> None:
    auth = {"Authorization": sqlite_settings.simulator_auth}
    for path in ("/msgs/nosuchuser", "/fllws/nosuchuser"):
        response = web.get(path, headers={**HTML, **auth})
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert "status" in response.json() or "error_msg" in response.json()


def test_favicon_ico_is_a_real_icon_cached_for_a_week(web: AppClient) -> None:
    response = web.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["Content-Type"] in ("image/vnd.microsoft.icon", "image/x-icon")
    assert response.headers["Cache-Control"] == "public, max-age=604800"
    icon = response.content
    reserved, kind, count = (int.from_bytes(icon[i : i + 2], "little") for i in (0, 2, 4))
    assert (reserved, kind, count) == (0, 1, 1)
    size = int.from_bytes(icon[14:18], "little")
    offset = int.from_bytes(icon[18:22], "little")
    assert icon[offset : offset + 8] == b"\x89PNG\r\n\x1a\n"
    assert offset + size == len(icon)
    assert (
        web.get("/favicon.ico", headers={"If-None-Match": response.headers["ETag"]}).status_code
        == 304
    )


def test_graphiql_loads_only_minitwits_own_assets(web: AppClient) -> None:
    page = web.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    vendored = [asset for asset in assets if asset.startswith("/static/vendor/graphiql/")]
    assert len(vendored) == 6, assets
    for asset in assets:
        response = web.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    stylesheet = web.get("/static/vendor/graphiql/graphiql.min.css").text
    fonts = re.findall(r"url\((assets/[^)]+)\)", stylesheet)
    assert fonts
    assert "data:" not in stylesheet, "the CSP allows no data: fonts or images"
    for font in set(fonts):
        assert web.get(f"/static/vendor/graphiql/{font}").status_code == 200, font


def test_graphiql_is_off_in_production(sqlite_settings: Settings) -> None:
    production = sqlite_settings.with_(env="production")
    for client in _app_client(production):
        response = client.get("/graphql", headers=HTML)
        assert response.status_code == 404
        assert "graphiql" not in response.text.lower()


def _sri(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_the_vendored_files_are_exactly_the_pinned_ones() -> None:
    """scripts/fetch_graphiql.py wrote them from tarballs whose sha512 it checked; here the
    committed copies are held to the hashes it recorded, offline."""
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    committed = {
        path.relative_to(VENDOR).as_posix(): _sri(path.read_bytes())
        for path in VENDOR.rglob("*")
        if path.is_file()
    }
    assert committed == lock["outputs"]
    for package in lock["packages"]:
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", package["integrity"]), package


def test_the_pinned_versions_are_the_ones_strawberrys_graphiql_page_loads() -> None:
    """When Strawberry moves to another GraphiQL, this says to re-pin and re-fetch."""
    template = Path(strawberry.__file__).parent / "static" / "graphiql.html"
    loads = template.read_text(encoding="utf-8")
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    for package in lock["packages"]:
        assert f"{package['name']}@{package['version']}/" in loads, package["name"]


def test_missing_web_files_are_named_at_start_up(tmp_path: Path) -> None:
    shutil.copytree(WEB_DIR, tmp_path / "web", ignore=shutil.ignore_patterns("vendor"))
    (tmp_path / "web" / "pages" / "login.html").unlink()
    with pytest.raises(FileNotFoundError, match=r"pages/login\.html"):
        WebClient(tmp_path / "web", max_message_length=1000)


def test_a_placeholder_no_setting_fills_stops_the_start(tmp_path: Path) -> None:
    shutil.copytree(WEB_DIR, tmp_path / "web", ignore=shutil.ignore_patterns("vendor"))
    fragment = tmp_path / "web" / "pages" / "register.html"
    fragment.write_text("<p>$no_such_setting</p>\n", encoding="utf-8")
    with pytest.raises(KeyError, match="no_such_setting"):
        WebClient(tmp_path / "web", max_message_length=1000)
