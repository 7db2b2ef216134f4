#!/usr/bin/env python3
"""The two set-up commands of the README.

    python3 dev.py run    create the environment, migrate, seed demo data once, serve on :8000
    python3 dev.py test   install what the tests need, then lint, types, unit, integration, e2e —
                          and the integration suite again on PostgreSQL + Redis when they are reachable,
                          started first and run beside all of those
    python3 dev.py bench  every benchmark in turn, each printing its table from one run (PostgreSQL rows
                          when it is reachable, in scratch databases bench_* that are made afresh)

Needs only Python 3.11+. Everything lands in .venv/ and var/ inside the project.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
CHROMIUM = "/usr/bin/chromium"
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


def say(message: str) -> None:
    print(f"\n\033[1m==> {message}\033[0m", flush=True)


def sh(*args: str | Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    print("$ " + " ".join(str(a) for a in args), flush=True)
    command = [str(a) for a in args]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, check=False)  # noqa: S603
    if check and result.returncode != 0:
        sys.exit(result.returncode)
    return result.returncode


def ensure_environment() -> None:
    """Create .venv and install the locked dependencies, again only when the lock or pyproject change."""
    if not PY.exists():
        say("creating the virtual environment in .venv")
        sh(sys.executable, "-m", "venv", VENV)
    stamp = VENV / ".installed"
    wanted = hashlib.sha256(
        (ROOT / "requirements.lock").read_bytes() + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("installing the locked dependencies")
    sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    sh(PY, "-m", "pip", "install", "--quiet", "-r", "requirements.lock")
    sh(PY, "-m", "pip", "install", "--quiet", "--no-deps", "-e", ".")
    stamp.write_text(wanted)


def ruleflow(*args: str, env: dict[str, str] | None = None) -> None:
    sh(BIN / "ruleflow", *args, env=env)


def run() -> None:
    ensure_environment()
    ruleflow("i18n", "compile")
    say("migrating the database")
    ruleflow("db", "upgrade")
    say("demo data")
    # The history is made through the real paths at about 4 orders a second on two cores: the last two days in
    # outline here (a minute), the rest by the server in the background once it serves, its progress on the home
    # page (DEMO_HISTORY_ORDERS for another size; 0 for none).
    ruleflow("seed-demo", "--background", "--history-orders", os.environ.get("DEMO_HISTORY_ORDERS", "20000"))
    say(f"serving http://127.0.0.1:{os.environ.get('PORT', '8000')} (Ctrl+C stops)")
    os.execv(BIN / "ruleflow", [str(BIN / "ruleflow"), "serve"])  # noqa: S606


def ensure_chromium() -> None:
    """Playwright cannot download browsers here: use Debian's chromium, installing it when missing, with the
    Noto CJK fonts so that the journeys' screenshots show Chinese rather than empty boxes."""
    wanted = [
        package for package, path in (("chromium", CHROMIUM), ("fonts-noto-cjk", CJK_FONT)) if not Path(path).exists()
    ]
    if not wanted:
        return
    say(f"installing Debian's {' and '.join(wanted)} for the browser tests")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if sh(*sudo, "apt-get", "install", "-y", "-q", *wanted, env=env, check=False) != 0:
        sh(*sudo, "apt-get", "update", "-q", env=env)
        sh(*sudo, "apt-get", "install", "-y", "-q", *wanted, env=env)


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


class Step:
    """One step of `dev.py test`: a command, run in the foreground (its output streamed) or beside the others
    (its output kept in a file under test-artifacts/logs and printed when it ends)."""

    def __init__(self, title: str, command: list[str | Path], env: dict[str, str] | None = None) -> None:
        self.title, self.command, self.env = title, command, env or {}
        self.code: int | None = None
        self.seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._started = 0.0

    def run(self) -> None:
        say(self.title)
        self._started = time.monotonic()
        self.code = sh(*self.command, env=self.env, check=False)
        self.seconds = time.monotonic() - self._started

    def start_beside(self, log_name: str) -> None:
        """Start in the background, with its own pytest temporary directory, so it can run beside another."""
        logs = ROOT / "test-artifacts" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self._log = logs / f"{log_name}.log"
        command = [str(part) for part in self.command]
        if "pytest" in command:
            command.append(f"--basetemp={tempfile.mkdtemp(prefix='ruleflow-test-')}")
        print(f"started beside the others: {self.title} (output when it ends)", flush=True)
        self._started = time.monotonic()
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
            )

    def finish(self) -> None:
        assert self._process is not None and self._log is not None
        self.code = self._process.wait()
        self.seconds = time.monotonic() - self._started
        say(self.title)
        sys.stdout.write(self._log.read_text(errors="replace"))
        sys.stdout.flush()


def test() -> None:
    ensure_environment()
    ensure_chromium()
    ruleflow("i18n", "compile")
    pytest: list[str | Path] = [PY, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider"]
    # The PostgreSQL run shares nothing with the other steps (its own database, Redis and worker processes, free
    # ports, its own temporary directory), so it runs beside them, started first: it is the longest step, and
    # lint, types, unit tests, the SQLite integration run and the browser tests then fit in its time instead of
    # adding to it.
    beside: Step | None = None
    if reachable(PG_URL, 5432) and reachable(REDIS_URL, 6379):
        beside = Step(
            "integration tests on PostgreSQL + Redis + arq worker processes",
            [*pytest, "tests/integration"],
            {"RULEFLOW_TEST_BACKEND": "postgres", "TEST_DATABASE_URL": PG_URL, "TEST_REDIS_URL": REDIS_URL},
        )
        beside.start_beside("integration-postgres")
    else:
        print("PostgreSQL or Redis not reachable: the PostgreSQL + Redis integration run is left out")
    steps = [
        Step("lint (ruff)", [BIN / "ruff", "check", "."]),
        Step("types (mypy)", [BIN / "mypy"]),
        Step("unit tests and benchmarks", [*pytest, "tests/unit", "tests/perf"]),
        Step("integration tests on SQLite + embedded worker", [*pytest, "tests/integration"]),
        Step("end-to-end tests in Chromium", [*pytest, "e2e"]),
    ]
    for step in steps:
        step.run()
    if beside is not None:
        beside.finish()
        steps.append(beside)
    say("summary")
    for step in steps:
        print(f"  {'PASS' if step.code == 0 else 'FAIL'}  {step.seconds:6.1f}s  {step.title}")
    sys.exit(0 if all(step.code == 0 for step in steps) else 1)


#: The benchmarks `dev.py bench` runs: module, its arguments, and whether it takes a PostgreSQL URL last.
BENCHMARKS = [
    ("bench_ruleflows", ["2000"], False),
    ("bench_ingest", ["1000"], True),
    ("bench_processing", ["400"], True),
    ("bench_reservations", ["64", "200"], True),
    ("bench_backtest", ["100000"], True),
    ("bench_reports", ["20000"], True),
]


def bench() -> None:
    ensure_environment()
    with_pg = reachable(PG_URL, 5432)
    for module, args, takes_pg in BENCHMARKS:
        say(f"benchmark {module}")
        extra: list[str] = []
        if takes_pg and with_pg:
            url = PG_URL.rsplit("/", 1)[0] + f"/{module}"
            fresh = (
                "import asyncio; from app.settings import normalize_database_url as n; "
                "from tests.perf.bench_processing import reset_postgres as r; "
                f"asyncio.run(r(n({url!r})))"
            )
            sh(PY, "-c", fresh)
            extra = [url]
        sh(PY, "-m", f"tests.perf.{module}", *args, *extra, check=False)


if __name__ == "__main__":
    if sys.version_info < (3, 11):  # noqa: UP036 - a newcomer may run this with an older python3
        sys.exit("Python 3.11 or newer is needed")
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "run":
        run()
    elif command == "test":
        test()
    elif command == "bench":
        bench()
    else:
        sys.exit(__doc__)
