# test_store_postgresql.py - the store's conformance suite (tests/unit/core/test_store.c) run
# against a real, throw-away PostgreSQL on 127.0.0.1 (scripts/postgres-test-server.sh).
"""The PostgreSQL store passes the same tests as the SQLite one (issue 3, point 7).

Needs RELAYGUARD_BUILD, the Meson build directory holding tests/unit/test_core_store
(`make integration` sets it); skipped only when that variable is missing.
"""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = ROOT / "scripts" / "postgres-test-server.sh"
SUITE = Path("tests") / "unit" / "test_core_store"
START_TIMEOUT = 180
SUITE_TIMEOUT = 600
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")


@pytest.fixture(scope="module")
def suite_binary():
    """suite_binary - path of test_core_store in $RELAYGUARD_BUILD."""
    build = os.environ.get("RELAYGUARD_BUILD")
    if not build:
        pytest.skip("RELAYGUARD_BUILD is not set: point it at the Meson build directory "
            "(make integration sets it) to run the store suite against PostgreSQL")
    binary = Path(build) / SUITE
    assert binary.is_file() and os.access(binary, os.X_OK), \
        "%s is missing: build it with ninja -C %s" % (binary, build)
    return binary


@pytest.fixture(scope="module")
def postgresql_url():
    """postgresql_url - URL of a fresh cluster on 127.0.0.1, stopped and removed afterwards."""
    started = subprocess.run([str(SERVER_SCRIPT), "start"], capture_output=True, text=True,
        timeout=START_TIMEOUT, check=False)
    assert started.returncode == 0, "cannot start PostgreSQL:\n" + started.stderr
    settings = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    assert settings["URL"].startswith("postgresql://postgres@127.0.0.1:"), settings
    try:
        yield settings["URL"]
    finally:
        subprocess.run([str(SERVER_SCRIPT), "stop", settings["PGDIR"]], timeout=START_TIMEOUT,
            check=False)
        assert not Path(settings["PGDIR"]).exists()


def run_suite(binary, url):
    """run_suite - the conformance suite against url; the CompletedProcess."""
    env = dict(os.environ, RELAYGUARD_TEST_STORE_URL=url)
    return subprocess.run([str(binary)], capture_output=True, text=True, env=env,
        timeout=SUITE_TIMEOUT, check=False, cwd=ROOT)


def test_postgresql_store_passes_the_conformance_suite(suite_binary, postgresql_url):
    result = run_suite(suite_binary, postgresql_url)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "test_store: backend postgresql" in output
    assert "[  PASSED  ]" in output
    assert "FAILED" not in output
    for marker in SANITIZER_MARKERS:
        assert marker not in output, output


def test_suite_refuses_a_store_url_that_is_not_postgresql(suite_binary):
    result = run_suite(suite_binary, "mysql://db.example.com/relayguard")
    assert result.returncode != 0
    assert "must be a postgresql:// URL" in result.stderr
