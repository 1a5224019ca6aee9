"""Fetch the GraphiQL page's assets from the npm registry into ``web/static/vendor/graphiql/``.

The versions are the ones Strawberry's own GraphiQL page loads from a CDN; MiniTwit serves them
itself so GraphiQL works with no internet and under the pages' Content-Security-Policy. Every
package is pinned with its tarball's sha512 integrity in ``graphiql.lock.json`` beside this
script, and every file written is pinned there by its sha256, so a fetch reproduces the
committed files exactly or fails.

    python scripts/fetch_graphiql.py            # fetch, verify, write the committed files
    python scripts/fetch_graphiql.py --check    # fetch and verify only; write nothing
    python scripts/fetch_graphiql.py --relock   # after changing a version in the lock

It runs ``npm pack`` (npm's configured registry; nothing else is downloaded). Stylesheets have
their ``url(data:...)`` fonts and images written out as files, because the CSP allows no
``data:`` fonts or images.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOCK = Path(__file__).resolve().with_name("graphiql.lock.json")
TARGET = REPO / "web" / "static" / "vendor" / "graphiql"
ASSETS = "assets"

_DATA_URL = re.compile(
    r"url\(data:(?P<type>[a-z]+/[a-z0-9.+-]+);base64,(?P<data>[A-Za-z0-9+/=]+)\)"
)
_EXTENSIONS = {"font/woff2": "woff2", "font/woff": "woff", "image/png": "png"}


def sha256(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def externalise_data_urls(css: bytes) -> tuple[bytes, dict[str, bytes]]:
    """The stylesheet with each ``url(data:...)`` replaced by a file under ``assets/``."""
    files: dict[str, bytes] = {}

    def replace(match: re.Match[str]) -> str:
        data = base64.b64decode(match["data"])
        extension = _EXTENSIONS.get(match["type"])
        if extension is None:
            raise SystemExit(f"unexpected data URL type {match['type']} in a stylesheet")
        name = f"{ASSETS}/{hashlib.sha256(data).hexdigest()[:16]}.{extension}"
        files[name] = data
        return f"url({name})"

    return _DATA_URL.sub(replace, css.decode("utf-8")).encode("utf-8"), files


def pack(spec: str, workdir: Path) -> Path:
    result = subprocess.run(  # noqa: S603 - the specs come from the committed lock
        ["npm", "pack", "--json", "--pack-destination", str(workdir), spec],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"npm pack {spec} failed:\n{result.stderr.strip()}")
    return workdir / json.loads(result.stdout)[0]["filename"]


def build(lock: dict[str, Any], workdir: Path, relock: bool) -> dict[str, bytes]:
    """Every output file by its path under TARGET; checks (or, relocking, records) integrity."""
    outputs: dict[str, bytes] = {}
    for package in lock["packages"]:
        spec = f"{package['name']}@{package['version']}"
        tarball = pack(spec, workdir)
        integrity = sha512(tarball.read_bytes())
        if relock:
            package["integrity"] = integrity
        elif integrity != package["integrity"]:
            pinned = package["integrity"]
            raise SystemExit(f"{spec}: integrity {integrity} is not the pinned {pinned}")
        with tarfile.open(tarball) as archive:
            for source, target in package["files"].items():
                member = archive.extractfile(f"package/{source}")
                if member is None:
                    raise SystemExit(f"{spec} has no file {source}")
                data = member.read()
                if target.endswith(".css"):
                    data, assets = externalise_data_urls(data)
                    outputs.update(assets)
                outputs[target] = data
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="verify only, write nothing")
    mode.add_argument("--relock", action="store_true", help="record new integrities and hashes")
    args = parser.parse_args(argv)
    lock = json.loads(LOCK.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as workdir:
        outputs = build(lock, Path(workdir), args.relock)
    hashes = {name: sha256(data) for name, data in sorted(outputs.items())}
    if args.relock:
        lock["outputs"] = hashes
        LOCK.write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")
    elif hashes != lock["outputs"]:
        changed = sorted(set(hashes.items()) ^ set(lock["outputs"].items()))
        raise SystemExit(f"the fetched files differ from the lock: {changed}")
    if args.check:
        committed = {
            path.relative_to(TARGET).as_posix(): sha256(path.read_bytes())
            for path in TARGET.rglob("*")
            if path.is_file()
        }
        if committed != hashes:
            raise SystemExit(f"{TARGET} differs from what the registry gives; run without --check")
        print(f"{len(hashes)} files in {TARGET.relative_to(REPO)} match the pinned packages")
        return 0
    for path in TARGET.rglob("*") if TARGET.exists() else ():
        if path.is_file() and path.relative_to(TARGET).as_posix() not in outputs:
            path.unlink()
    for name, data in outputs.items():
        path = TARGET / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(f"wrote {len(outputs)} files to {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
