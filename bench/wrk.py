"""Running ``wrk`` (Debian's package) and reading its own figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
THREADS = 2


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if not match:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    """wrk's ``--latency`` report as numbers."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^[ \t]+50%[ \t]+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^[ \t]+99%[ \t]+(\S+)", output, re.MULTILINE)
    latency = re.search(r"^[ \t]+Latency[ \t]+\S+[ \t]+\S+[ \t]+(\S+)", output, re.MULTILINE)
    if not (done and rps and p50 and p99 and latency):
        raise ValueError(f"wrk's output could not be read:\n{output}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        max_ms=_ms(latency.group(1)),
        non2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=sum(int(x) for x in sockets.groups()) if sockets else 0,
    )


def lua_post(body: dict[str, Any], headers: dict[str, str]) -> str:
    """A wrk script that POSTs ``body`` as JSON with ``headers``."""
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(json.dumps(body))}"]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    return "\n".join(lines) + "\n"


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def run(
    url: str,
    *,
    connections: int,
    seconds: int,
    headers: dict[str, str] | None = None,
    post: dict[str, Any] | None = None,
    timeout: float = 5.0,
) -> WrkResult:
    """``wrk --latency`` against ``url``; a JSON POST of ``post`` when given."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian package wrk: apt-get install wrk)")
    threads = min(THREADS, connections)
    command = [binary, "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    command += [f"--timeout={timeout:g}s"]
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch:
        if post is not None:
            script = Path(scratch) / "post.lua"
            script.write_text(lua_post(post, headers or {}))
            command += ["-s", str(script)]
        else:
            for name, value in (headers or {}).items():
                command += ["-H", f"{name}: {value}"]
        result = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr}{result.stdout}")
    return parse(result.stdout)
