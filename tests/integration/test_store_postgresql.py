# test_store_postgresql.py - the store's conformance suite (tests/unit/core/test_store.c) and a
# `relayguard check --db` round trip, against a throw-away PostgreSQL on 127.0.0.1 only.
"""The PostgreSQL store passes the same tests as the SQLite one (issue 3, point 7), and
relayguard check records into it and reads its history back.

The suite needs RELAYGUARD_BUILD, the Meson build directory holding tests/unit/test_core_store;
the round trip needs RELAYGUARD, the binary (`make integration` sets both). Each is skipped
only when its variable is missing.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import fake_address, fake_target

ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = ROOT / "scripts" / "postgres-test-server.sh"
SUITE = Path("tests") / "unit" / "test_core_store"
START_TIMEOUT = 180
SUITE_TIMEOUT = 600
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")
ROUND_TRIP_DATABASE = "relayguard_check_round_trip"
PSQL_TIMEOUT = 60


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


def psql(url, sql):
    """psql - run sql on the database of url with the psql client; its stdout, unaligned."""
    client = shutil.which("psql")
    assert client is not None, "psql (postgresql-client) is needed to prepare the database"
    result = subprocess.run([client, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
        "-d", url, "-c", sql], capture_output=True, text=True, timeout=PSQL_TIMEOUT,
        check=False)
    assert result.returncode == 0, "psql %r: %s" % (sql, result.stderr)
    return result.stdout.strip()


@pytest.fixture
def round_trip_url(postgresql_url):
    """round_trip_url - URL of an empty database of its own on the test cluster, dropped after."""
    assert postgresql_url.endswith("/postgres")
    psql(postgresql_url, "CREATE DATABASE %s" % ROUND_TRIP_DATABASE)
    try:
        yield postgresql_url[:-len("postgres")] + ROUND_TRIP_DATABASE
    finally:
        psql(postgresql_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % ROUND_TRIP_DATABASE)


def json_lines(result):
    """json_lines - every non-empty stdout line of a relayguard run, parsed as JSON."""
    objects = []
    for line in result.stdout.splitlines():
        if line.strip():
            try:
                objects.append(json.loads(line))
            except ValueError:
                pytest.fail("stdout line is not JSON: %r\nstderr:\n%s" % (line, result.stderr))
    return objects


def test_check_results_in_postgresql_are_listed_by_since(run_relayguard, round_trip_url):
    secure, open_relay = fake_target("secure"), fake_target("open")
    checked = run_relayguard("check", "--db", round_trip_url, "--json", "-q", "--helo",
        "checker.test", "--timeout", "5", secure, open_relay)
    assert checked.returncode == 1, checked.stderr
    verdicts = {o["target"]: o["verdict"] for o in json_lines(checked)}
    assert verdicts == {secure: "closed", open_relay: "open"}, checked.stderr

    listed = run_relayguard("check", "--db", round_trip_url, "--since", "1d", "--json")
    assert listed.returncode == 0, listed.stderr
    history = json_lines(listed)
    assert sorted((o["target"], o["address"], o["verdict"]) for o in history) == [
        (secure, fake_address("secure"), "closed"),
        (open_relay, fake_address("open"), "open")]
    assert {o["target"]: tuple(o["tricks"]) for o in history}[secure] == ()
    assert "S02" in {o["target"]: o["tricks"] for o in history}[open_relay]

    # Behind the listing: one finished run holding both results, in the PostgreSQL store.
    assert psql(round_trip_url, "SELECT status FROM runs") == "finished"
    assert psql(round_trip_url, "SELECT COUNT(*) FROM results WHERE run_id = "
        "(SELECT id FROM runs)") == "2"
