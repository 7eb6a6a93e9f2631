# test_check_store.py - `relayguard check --db` history (docs/store.md) and `relayguard receiver`,
# the long-lived receiver whose late arrivals upgrade stored results. SQLite files, loopback only.
"""The store: every run adds results and never loses the old ones; --since reads them back;
a probe that a relay delivers after the check has given up still makes the target open."""

import json
import signal
import smtplib
import sqlite3
import subprocess
import time

import pytest

from conftest import (LATE_RELAY_ADDRESS, LATE_RELAY_DELAY, PROMPT_RELAY_ADDRESS, SLOW_ADDRESSES,
    SMTP_PORT,
    check_sanitizers, fake_target, only_target)

PROBE_DOMAIN = "late-probe.relayguard.test"
RECEIVER_READY_TIMEOUT = 20
LATE_DELIVERY_TIMEOUT = LATE_RELAY_DELAY + 15
UNKNOWN_TOKEN = "rg" + "0123456789abcdef01234567"


def parse_json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def history(run_relayguard, db, *targets, since="1d"):
    """history - the JSON objects of `check --db DB --since SINCE --json [targets]`."""
    result = run_relayguard("check", "--db", str(db), "--since", since, "--json", *targets)
    assert result.returncode == 0, result.stderr
    return parse_json_lines(result.stdout)


def query(db, sql, *parameters):
    """query - rows of a read-only SQL query on the SQLite store."""
    connection = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


# ---- recording and history --------------------------------------------------------------------

def test_run_records_the_run_its_result_and_its_tests(run_check, tmp_path):
    db = tmp_path / "store.sqlite"
    code, objects, stderr = run_check("--db", str(db), "--tests", "S01,S02,R01",
        fake_target("secure"))
    result = only_target(objects)
    assert code == 0, stderr
    runs = query(db, "SELECT status, finished_at IS NOT NULL, shard FROM runs")
    assert runs == [("finished", 1, None)]
    rows = query(db, "SELECT target, address, port, verdict, reason FROM results")
    assert rows == [(fake_target("secure"), result["address"], SMTP_PORT, "closed",
        result["reason"])]
    tests = query(db, "SELECT test_id, outcome FROM tests ORDER BY test_id")
    assert tests == [(t["id"], t["outcome"]) for t in sorted(result["tests"],
        key=lambda t: t["id"])]


def test_second_run_adds_a_result_and_keeps_the_first(run_check, run_relayguard, tmp_path):
    db = tmp_path / "store.sqlite"
    for _ in range(2):
        code, _, stderr = run_check("--db", str(db), "--tests", "S01", fake_target("secure"))
        assert code == 0, stderr
    listed = history(run_relayguard, db)
    assert [o["target"] for o in listed] == [fake_target("secure")] * 2
    assert all(o["verdict"] == "closed" for o in listed)
    assert len(query(db, "SELECT id FROM runs")) == 2


def test_since_with_a_target_lists_only_that_target(run_check, run_relayguard, tmp_path):
    db = tmp_path / "store.sqlite"
    code, _, stderr = run_check("--db", str(db), "--tests", "S01", fake_target("secure"),
        fake_target("null-sender"))
    assert code == 1, stderr
    listed = history(run_relayguard, db, fake_target("null-sender"))
    assert [o["target"] for o in listed] == [fake_target("null-sender")]
    assert listed[0]["verdict"] == "open"


def test_since_finds_a_target_by_its_address(run_check, run_relayguard, tmp_path):
    db = tmp_path / "store.sqlite"
    run_check("--db", str(db), "--tests", "S01", fake_target("secure"), fake_target("open"))
    listed = history(run_relayguard, db, "127.0.2.1")
    assert [o["address"] for o in listed] == ["127.0.2.1"]


def test_history_of_an_unknown_target_is_empty(run_check, run_relayguard, tmp_path):
    db = tmp_path / "store.sqlite"
    run_check("--db", str(db), "--tests", "S01", fake_target("secure"))
    assert history(run_relayguard, db, "127.0.99.99") == []


def test_since_later_than_every_result_lists_nothing(run_check, run_relayguard, tmp_path):
    db = tmp_path / "store.sqlite"
    run_check("--db", str(db), "--tests", "S01", fake_target("secure"))
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 2 * 86400))
    assert history(run_relayguard, db, since=tomorrow) == []


def test_since_without_db_is_a_usage_error(run_relayguard):
    result = run_relayguard("check", "--since", "1d")
    assert result.returncode == 2
    assert "--db" in result.stderr


def test_interrupted_run_is_recorded_as_interrupted(relayguard, scale_fakes, tmp_path):
    db = tmp_path / "store.sqlite"
    process = subprocess.Popen([relayguard, "check", "-q", "--json", "--db", str(db),
        "--greeting-timeout", "60", "--tests", "S01", "%s:%d" % (SLOW_ADDRESSES[0], SMTP_PORT)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        errors="replace")
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    check_sanitizers(err)
    assert process.returncode == 2, err
    assert query(db, "SELECT status FROM runs") == [("interrupted",)]


# ---- relayguard receiver ----------------------------------------------------------------------

@pytest.fixture
def receiver(relayguard, late_receiver_port, tmp_path):
    """receiver - a running `relayguard receiver` on 127.0.0.1:late_receiver_port (the late-relay
    fake's next_hop) writing to tmp_path/store.sqlite; yields the store path."""
    db = tmp_path / "store.sqlite"
    log = tmp_path / "receiver.log"
    with open(log, "w") as stderr:
        process = subprocess.Popen([relayguard, "receiver", "--db", str(db), "--listen",
            "127.0.0.1:%d" % late_receiver_port, "--probe-domain", PROBE_DOMAIN],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + RECEIVER_READY_TIMEOUT
    while "event=listening" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail("relayguard receiver did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.1)
    yield db
    process.send_signal(signal.SIGTERM)
    try:
        status = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("relayguard receiver ignored SIGTERM")
    text = log.read_text(errors="replace")
    check_sanitizers(text)
    assert status == 0, text[-3000:]


def wait_for_late_relay(scale_fakes, since):
    """wait_for_late_relay - the late-relay fake's relay events after since, once it has one."""
    deadline = time.monotonic() + LATE_DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        relays = [e for e in scale_fakes.relays(LATE_RELAY_ADDRESS) if e["time"] >= since]
        if relays:
            return relays
        time.sleep(0.2)
    pytest.fail("the late-relay fake relayed nothing within %d s" % LATE_DELIVERY_TIMEOUT)


def wait_for_arrivals(db, count):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if query(db, "SELECT COUNT(*) FROM arrivals")[0][0] >= count:
            return
        time.sleep(0.2)
    pytest.fail("the receiver recorded fewer than %d arrivals" % count)


def confirm_without_receiver(run_check, db, wait="1"):
    return run_check("--confirm", "--probe-domain", PROBE_DOMAIN, "--db", str(db),
        "--confirm-wait", wait, "--tests", "S02", "%s:%d" % (LATE_RELAY_ADDRESS, SMTP_PORT))


def test_check_without_receiver_gives_up_on_a_late_relay(run_check, scale_fakes, receiver):
    since = time.time()
    code, objects, stderr = confirm_without_receiver(run_check, receiver)
    result = only_target(objects)
    assert result["verdict"] == "closed", result["reason"]
    assert "never delivered" in result["reason"]
    assert code == 0, stderr
    wait_for_late_relay(scale_fakes, since)   # let it land before the receiver stops


def test_late_delivery_to_the_receiver_upgrades_the_stored_result(run_check, run_relayguard,
        scale_fakes, receiver):
    since = time.time()
    code, objects, _ = confirm_without_receiver(run_check, receiver)
    assert only_target(objects)["verdict"] == "closed" and code == 0
    relays = wait_for_late_relay(scale_fakes, since)
    assert "DATA 250" in relays[0]["text"], relays[0]["text"]
    wait_for_arrivals(receiver, 1)
    assert query(receiver, "SELECT verdict, stage, tricks, verdict_before FROM results") == [
        ("open", "delivered", "S02", "closed")]
    assert query(receiver, "SELECT outcome FROM tests WHERE test_id = 'S02'") == [
        ("delivered",)]


def test_since_shows_the_result_upgraded_by_a_late_delivery(run_check, run_relayguard,
        scale_fakes, receiver):
    since = time.time()
    confirm_without_receiver(run_check, receiver)
    wait_for_late_relay(scale_fakes, since)
    wait_for_arrivals(receiver, 1)
    listed = only_target(history(run_relayguard, receiver))
    assert listed["verdict"] == "open"
    assert listed["stage"] == "delivered"
    assert listed["tricks"] == ["S02"]
    assert listed["verdict_when_checked"] == "closed"
    assert "upgraded from closed" in listed["reason"]


def test_since_table_shows_the_result_upgraded_by_a_late_delivery(run_check, run_relayguard,
        scale_fakes, receiver):
    since = time.time()
    confirm_without_receiver(run_check, receiver)
    wait_for_late_relay(scale_fakes, since)
    wait_for_arrivals(receiver, 1)
    result = run_relayguard("check", "--db", str(receiver), "--since", "1d")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 1, result.stdout
    assert rows[0][4:7] == ["open", "delivered", "S02"], result.stdout


def test_check_waiting_for_a_delivery_sees_it_through_the_store(run_check, scale_fakes,
        receiver):
    """--confirm-wait longer than the relay's delay: the check polls the store and sees the
    arrival the receiver recorded, so the verdict is open at once."""
    code, objects, stderr = confirm_without_receiver(run_check, receiver,
        wait=str(LATE_RELAY_DELAY + 8))
    result = only_target(objects)
    assert result["verdict"] == "open", result["reason"]
    assert result["stage"] == "delivered"
    assert code == 1, stderr


def test_receiver_keeps_an_unknown_token_without_touching_results(run_check, receiver,
        late_receiver_port):
    run_check("--db", str(receiver), "--tests", "S01", fake_target("secure"))
    before = query(receiver, "SELECT id, verdict, stage FROM results")
    with smtplib.SMTP("127.0.0.1", late_receiver_port, local_hostname="relay.test",
            timeout=10) as client:
        client.sendmail("someone@relay.test", ["%s@%s" % (UNKNOWN_TOKEN, PROBE_DOMAIN)],
            "X-Relayguard-Token: %s\r\nSubject: forged\r\n\r\nhello\r\n" % UNKNOWN_TOKEN)
    wait_for_arrivals(receiver, 1)
    assert query(receiver, "SELECT token, result_id FROM arrivals") == [(UNKNOWN_TOKEN, None)]
    assert query(receiver, "SELECT id, verdict, stage FROM results") == before


def test_receiver_refuses_mail_for_other_domains(receiver, late_receiver_port):
    with smtplib.SMTP("127.0.0.1", late_receiver_port, local_hostname="relay.test",
            timeout=10) as client:
        client.ehlo()
        client.mail("someone@relay.test")
        code, _ = client.rcpt("%s@relay-victim.example.net" % UNKNOWN_TOKEN)
    assert code // 100 == 5
    assert query(receiver, "SELECT COUNT(*) FROM arrivals") == [(0,)]


def test_receiver_without_db_is_a_usage_error(relayguard):
    result = subprocess.run([relayguard, "receiver", "--listen", "127.0.0.1:1",
        "--probe-domain", PROBE_DOMAIN], capture_output=True, text=True, timeout=30)
    check_sanitizers(result.stderr)
    assert result.returncode == 2
    assert "--db" in result.stderr


def test_delivery_before_the_result_is_stored_still_upgrades_it(run_check, scale_fakes,
        receiver):
    """The prompt relay delivers S01 at once and then holds its 221 to QUIT for 0.5 s, with
    --confirm-wait 0: the probe arrives at the receiver before the check has stored its token
    (and before the check's first poll of the store, 1 s after its start). Every arrival of
    a known token upgrades its result (docs/store.md), so the stored result must end open."""
    since = time.time()
    code, objects, stderr = run_check("--confirm", "--probe-domain", PROBE_DOMAIN, "--db",
        str(receiver), "--confirm-wait", "0", "--tests", "S01",
        "%s:%d" % (PROMPT_RELAY_ADDRESS, SMTP_PORT))
    only_target(objects)
    deadline = time.monotonic() + 15
    while not [e for e in scale_fakes.relays(PROMPT_RELAY_ADDRESS) if e["time"] >= since]:
        assert time.monotonic() < deadline, "the prompt relay delivered nothing"
        time.sleep(0.2)
    wait_for_arrivals(receiver, 1)
    assert query(receiver, "SELECT verdict, stage FROM results") == [("open", "delivered")]
