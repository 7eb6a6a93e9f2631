# test_check_scale.py - `relayguard check` at scale (issue 3): CIDR ranges of fakes, the progress
# line, -f files, --max-targets, reserved ranges, shards, --exclude, --rate, SIGINT, retry queue.
"""Many targets in one run.  The scale fakes answer on 127.0.8.0/22 (conftest.py, second table);
every behaviour has a known verdict for --tests S01,S02 --depth rcpt.  Everything stays on
loopback; the one test whose target resolves to a reserved (non-loopback) address runs inside
a network namespace of its own that has nothing but loopback."""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (DNS_ZONE, FAKES, GREYLIST_BESIDE_OTHERS_ADDRESS,
    GREYLIST_NO_QUEUE_ADDRESSES, GREYLIST_QUEUE_ADDRESSES, PYTHON, SCALE_NETWORK, SCALE_SIZE,
    SLOW_ADDRESSES, SMTP_PORT, check_sanitizers, only_target, scale_address, scale_behaviour,
    scale_offset)

# Verdict and tricks of each scale behaviour under FAST_BATTERY (None: nothing listens).
EXPECTED = {
    None: ("unreachable", []),
    "reject-421": ("inconclusive", []),
    "open": ("suspect", ["S01", "S02"]),
    "null-sender": ("suspect", ["S01"]),
    "tarpit": ("suspect", ["S01", "S02"]),
    "multiline-banner": ("suspect", ["S01", "S02"]),
    "secure": ("closed", []),
}
FAST_BATTERY = ("--depth", "rcpt", "--tests", "S01,S02")
COMMON = ("--helo", "checker.test", "--timeout", "5", "--greeting-timeout", "30")
STATUS_LINE = re.compile(r"\d+/(\d+|\?) checked +open \d+ .*/s")
RUN_TIMEOUT = 120
SIGINT_AFTER = 1.0
SIGINT_EXIT_WITHIN = 5.0


def secure_addresses(count, start=0):
    """secure_addresses - count addresses of secure scale fakes, from offset start on."""
    found = [scale_address(o) for o in range(start, SCALE_SIZE) if scale_behaviour(o) == "secure"]
    return found[:count]


def parse_json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_raw(relayguard, args, stdin_text=None, timeout=RUN_TIMEOUT):
    """run_raw - "$RELAYGUARD check COMMON args" with optional standard input; no -q, no --json
    unless given. Fails the test on a sanitizer report."""
    result = subprocess.run([relayguard, "check", *COMMON, *args], capture_output=True,
        text=True, errors="replace", timeout=timeout,
        input=stdin_text if stdin_text is not None else "")
    check_sanitizers(result.stderr)
    return result


def run_on_terminal(argv, timeout=RUN_TIMEOUT):
    """run_on_terminal - run argv with stderr on a new pseudo-terminal, stdout on a pipe;
    returns (exit status, stdout, what the terminal showed)."""
    master, slave = os.openpty()
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=slave)
    os.close(slave)
    out, screen = bytearray(), bytearray()
    open_fds = {process.stdout.fileno(): out, master: screen}
    deadline = time.monotonic() + timeout
    try:
        while open_fds and time.monotonic() < deadline:
            ready, _, _ = select.select(list(open_fds), [], [], 0.5)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:          # EIO: the last slave descriptor is closed
                    data = b""
                if data:
                    open_fds[fd] += data
                else:
                    del open_fds[fd]
        if open_fds:
            process.kill()
            pytest.fail("%s ran longer than %d s" % (" ".join(argv), timeout))
        status = process.wait(timeout=10)
    finally:
        os.close(master)
        process.stdout.close()
    screen_text = screen.decode("utf-8", "replace")
    check_sanitizers(screen_text)
    return status, out.decode("utf-8", "replace"), screen_text


def assert_scale_verdicts(objects, addresses):
    """assert_scale_verdicts - exactly one object per address, each with its fake's verdict."""
    by_address = {}
    for result in objects:
        assert result["address"] not in by_address, "checked twice: %s" % result["address"]
        by_address[result["address"]] = result
    assert set(by_address) == set(addresses)
    wrong = []
    for address, result in sorted(by_address.items()):
        behaviour = scale_behaviour(scale_offset(address))
        verdict, tricks = EXPECTED[behaviour]
        if result["verdict"] != verdict or sorted(result["tricks"]) != tricks:
            wrong.append("%s (%s): %s %s, expected %s %s; reason %s" % (address, behaviour,
                result["verdict"], result["tricks"], verdict, tricks, result["reason"]))
    assert not wrong, "%d wrong verdicts:\n%s" % (len(wrong), "\n".join(wrong[:20]))


# ---- ranges ---------------------------------------------------------------------------------

def test_every_address_of_a_22_gets_the_verdict_of_its_fake(run_check, scale_fakes):
    code, objects, stderr = run_check(SCALE_NETWORK, "--port", str(SMTP_PORT), *FAST_BATTERY,
        "--concurrency", "256")
    assert_scale_verdicts(objects, [scale_address(o) for o in range(SCALE_SIZE)])
    assert all(o["target"] == SCALE_NETWORK and o["port"] == SMTP_PORT for o in objects)
    assert code == 0, stderr


def test_range_with_an_open_relay_exits_1(run_check, scale_fakes):
    """At --depth data the open fakes of the range are open: exit status 1."""
    code, objects, _ = run_check("127.0.8.0/28", "--port", str(SMTP_PORT), "--tests", "S01")
    opened = {o["address"] for o in objects if o["verdict"] == "open"}
    assert opened == {scale_address(o) for o in range(16) if scale_behaviour(o) in (
        "open", "null-sender", "tarpit", "multiline-banner")}
    assert code == 1


# ---- the progress line ------------------------------------------------------------------------

def test_progress_line_is_shown_on_a_terminal(relayguard, scale_fakes):
    status, out, screen = run_on_terminal([relayguard, "check", *COMMON, "127.0.8.0/24",
        "--port", str(SMTP_PORT), *FAST_BATTERY])
    assert STATUS_LINE.search(screen), "no status line on the terminal:\n%r" % screen[-2000:]
    assert "256/256 checked" in screen, screen[-2000:]
    assert "127.0.8.1" in out  # the table still goes to standard output
    assert status == 0


def test_progress_line_is_absent_without_a_terminal(relayguard, scale_fakes):
    result = run_raw(relayguard, ["127.0.8.0/28", "--port", str(SMTP_PORT), *FAST_BATTERY])
    assert result.returncode == 0, result.stderr
    assert "event=target_checked" in result.stderr   # log lines instead
    assert not STATUS_LINE.search(result.stderr), result.stderr[-2000:]
    assert "\x1b[K" not in result.stderr


def test_progress_line_is_absent_on_a_terminal_with_quiet(relayguard, scale_fakes):
    status, _, screen = run_on_terminal([relayguard, "check", *COMMON, "--quiet",
        "127.0.8.0/28", "--port", str(SMTP_PORT), *FAST_BATTERY])
    assert status == 0
    assert not STATUS_LINE.search(screen), screen[-2000:]
    assert "\x1b[K" not in screen


def test_progress_line_is_absent_on_a_terminal_with_no_progress(relayguard, scale_fakes):
    status, _, screen = run_on_terminal([relayguard, "check", *COMMON, "--no-progress",
        "127.0.8.0/28", "--port", str(SMTP_PORT), *FAST_BATTERY])
    assert status == 0
    assert not STATUS_LINE.search(screen), screen[-2000:]


# ---- -f FILE ----------------------------------------------------------------------------------

def test_file_targets_skip_comments_and_blank_lines(run_check, scale_fakes, tmp_path):
    first, second, third = secure_addresses(3)
    targets = tmp_path / "targets.txt"
    targets.write_text("# servers of the scale fakes\n\n%s:%d\n   \n  %s   # trailing comment\n"
        "\t%s:%d\n# the end\n" % (first, SMTP_PORT, second, third, SMTP_PORT))
    code, objects, stderr = run_check("-f", str(targets), "--port", str(SMTP_PORT),
        *FAST_BATTERY)
    assert sorted(o["address"] for o in objects) == sorted([first, second, third])
    assert all(o["verdict"] == "closed" for o in objects)
    assert code == 0, stderr


def test_bad_file_line_is_exit_2_with_file_and_line_and_the_rest_is_checked(run_check,
        scale_fakes, tmp_path):
    first, second = secure_addresses(2)
    targets = tmp_path / "targets.txt"
    targets.write_text("%s\n# comment\nbad target!\n%s\n" % (first, second))
    code, objects, stderr = run_check("-f", str(targets), "--port", str(SMTP_PORT),
        *FAST_BATTERY)
    assert "%s:3" % targets in stderr, stderr
    assert sorted(o["address"] for o in objects) == sorted([first, second])
    assert code == 2


def test_targets_are_read_from_standard_input_with_dash(relayguard, scale_fakes):
    first, second = secure_addresses(2, start=100)
    result = run_raw(relayguard, ["--json", "-q", "-f", "-", "--port", str(SMTP_PORT),
        *FAST_BATTERY], stdin_text="# from a pipe\n%s\n%s:%d\n" % (first, second, SMTP_PORT))
    assert result.returncode == 0, result.stderr
    objects = parse_json_lines(result.stdout)
    assert sorted(o["address"] for o in objects) == sorted([first, second])


def test_duplicate_targets_are_checked_once(run_check, scale_fakes, tmp_path):
    address = secure_addresses(1, start=200)[0]
    targets = tmp_path / "targets.txt"
    targets.write_text("%s\n%s:%d\n%s/32\n" % (address, address, SMTP_PORT, address))
    since = time.time()
    code, objects, stderr = run_check("-f", str(targets), "%s:%d" % (address, SMTP_PORT),
        "--port", str(SMTP_PORT), *FAST_BATTERY)
    assert [o["address"] for o in objects] == [address]
    assert scale_fakes.connected_addresses(since).get(address) == 1
    assert code == 0, stderr


# ---- --max-targets ------------------------------------------------------------------------------

def test_range_larger_than_max_targets_is_refused_before_any_connection(run_check, scale_fakes):
    since = time.time()
    code, objects, stderr = run_check("127.0.8.0/24", "--port", str(SMTP_PORT),
        "--max-targets", "100", *FAST_BATTERY)
    assert code == 2
    assert "--max-targets" in stderr and "127.0.8.0/24" in stderr, stderr
    assert objects == []
    assert scale_fakes.connected_addresses(since) == {}


def test_range_larger_than_max_targets_in_a_file_is_a_line_error(run_check, scale_fakes,
        tmp_path):
    address = secure_addresses(1, start=300)[0]
    targets = tmp_path / "targets.txt"
    targets.write_text("127.0.8.0/24\n%s\n" % address)
    code, objects, stderr = run_check("-f", str(targets), "--port", str(SMTP_PORT),
        "--max-targets", "100", *FAST_BATTERY)
    assert "%s:1" % targets in stderr and "--max-targets" in stderr, stderr
    assert [o["address"] for o in objects] == [address]
    assert code == 2


# ---- reserved ranges ------------------------------------------------------------------------

# Runs inside `unshare -rn` (a user and network namespace holding only loopback): even a
# relayguard that wrongly connected could not send a packet beyond this machine.
NETNS_DRIVER = r"""
import json, subprocess, sys
zone, fake_dns, relayguard, name = sys.argv[1:5]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
dns = subprocess.Popen([sys.executable, fake_dns, "--zone", zone, "--address", "127.0.0.1",
    "--port", "0"], stdout=subprocess.PIPE, text=True)
try:
    port = dns.stdout.readline().split()[1]
    check = subprocess.run([relayguard, "check", "--json", "-q", "--dns", "127.0.0.1:" + port,
        "--port", "2525", "--depth", "rcpt", "--tests", "S01", "--timeout", "5", name],
        capture_output=True, text=True, errors="replace", timeout=60)
finally:
    dns.terminate()
    dns.wait()
print(json.dumps({"returncode": check.returncode, "stdout": check.stdout,
    "stderr": check.stderr}))
"""


def run_in_empty_network_namespace(relayguard, zone_path, name):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare(1) and ip(8) for a loopback-only network namespace")
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"],
        capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("cannot create a user+network namespace: %s" % probe.stderr.strip())
    driver = subprocess.run(["unshare", "-rn", PYTHON, "-c", NETNS_DRIVER, str(zone_path),
        str(FAKES / "fake_dns.py"), relayguard, name], capture_output=True, text=True,
        timeout=120)
    assert driver.returncode == 0, driver.stderr
    outcome = json.loads(driver.stdout.strip().splitlines()[-1])
    check_sanitizers(outcome["stderr"])
    return outcome


def test_name_resolving_to_a_reserved_address_is_unreachable_without_connecting(relayguard,
        tmp_path):
    """reserved.test A 10.1.2.3: 10/8 is never scanned unless the address itself is named."""
    zone_path = tmp_path / "zone.json"
    zone_path.write_text(json.dumps(DNS_ZONE))
    outcome = run_in_empty_network_namespace(relayguard, zone_path, "reserved.test")
    result = only_target(parse_json_lines(outcome["stdout"]))
    assert result["address"] == "10.1.2.3"
    assert result["verdict"] == "unreachable"
    assert "reserved range" in result["reason"], result["reason"]
    assert result["transcript"] == []
    assert all(test["attempts"] == 0 and test["replies"] == [] for test in result["tests"])
    assert outcome["returncode"] == 0, outcome["stderr"]


# ---- shards -----------------------------------------------------------------------------------

def fnv1a_64(data):
    value = 14695981039346656037
    for byte in data:
        value = ((value ^ byte) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return value


def shard_addresses(run_check, shard, network="127.0.8.0/24"):
    code, objects, stderr = run_check(network, "--port", str(SMTP_PORT), "--shard", shard,
        "--depth", "rcpt", "--tests", "S01")
    assert code == 0, stderr
    addresses = [o["address"] for o in objects]
    assert len(addresses) == len(set(addresses))
    return set(addresses)


def test_two_shards_partition_a_range_exactly(run_check, scale_fakes):
    first = shard_addresses(run_check, "1/2")
    second = shard_addresses(run_check, "2/2")
    assert first and second
    assert first & second == set()
    assert first | second == {scale_address(o) for o in range(256)}


def test_shard_membership_is_the_documented_fnv1a_of_the_address(run_check, scale_fakes):
    """docs/store.md: FNV-1a-64 of the address bytes in network order, mod N == K - 1."""
    got = shard_addresses(run_check, "2/3", network="127.0.8.0/25")
    expected = {scale_address(o) for o in range(128)
        if fnv1a_64(bytes(int(p) for p in scale_address(o).split("."))) % 3 == 1}
    assert got == expected


# ---- --exclude --------------------------------------------------------------------------------

def test_excluded_range_is_never_contacted(run_check, scale_fakes, tmp_path):
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("# a protected block\n127.0.8.16/28\n")
    excluded = {scale_address(o) for o in range(16, 32)}
    since = time.time()
    code, objects, stderr = run_check("127.0.8.0/26", "--port", str(SMTP_PORT),
        "--exclude", str(exclude), "--depth", "rcpt", "--tests", "S01")
    contacted = scale_fakes.connected_addresses(since)
    assert excluded & set(contacted) == set(), contacted
    checked = {o["address"] for o in objects}
    assert checked & excluded == set()
    assert checked == {scale_address(o) for o in range(64)} - excluded
    assert code == 0, stderr


# ---- --rate -----------------------------------------------------------------------------------

def test_rate_spreads_new_connections_over_time(run_check, scale_fakes):
    """20 targets at --rate 10: the last connection comes about 1.9 s after the first."""
    targets = ["%s:%d" % (a, SMTP_PORT) for a in secure_addresses(20, start=400)]
    since = time.time()
    started = time.monotonic()
    code, objects, stderr = run_check(*targets, "--rate", "10", "--depth", "rcpt",
        "--tests", "S01")
    elapsed = time.monotonic() - started
    assert len(objects) == 20 and code == 0, stderr
    times = scale_fakes.connect_times(since)
    assert len(times) == 20
    assert times[-1] - times[0] >= 1.5, times
    assert elapsed >= 1.5


# ---- SIGINT -----------------------------------------------------------------------------------

def start_check(relayguard, *args):
    return subprocess.Popen([relayguard, "check", *COMMON, *args], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")


def interrupt(process, after=SIGINT_AFTER):
    """interrupt - SIGINT after `after` seconds; returns (status, stdout, stderr, seconds the
    process took to exit after the signal)."""
    time.sleep(after)
    assert process.poll() is None, "relayguard ended before the signal"
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail("relayguard did not stop within 30 s of SIGINT; stderr:\n" + err[-3000:])
    check_sanitizers(err)
    return process.returncode, out, err, time.monotonic() - sent


def test_sigint_stops_quickly_with_status_2_and_prints_the_finished_targets(relayguard,
        scale_fakes):
    finished = secure_addresses(4, start=500)
    targets = ["%s:%d" % (a, SMTP_PORT) for a in finished + SLOW_ADDRESSES]
    process = start_check(relayguard, "-q", "--depth", "rcpt", "--tests", "S01", *targets)
    status, out, err, took = interrupt(process)
    assert status == 2, err
    assert took < SIGINT_EXIT_WITHIN, "took %.1f s to stop" % took
    rows = {line.split()[1]: line.split() for line in out.splitlines()
        if len(line.split()) > 3 and line.split()[1] in finished}
    assert set(rows) == set(finished), out
    assert all(row[3].lower() == "closed" for row in rows.values()), out


def test_sigint_never_reports_an_unfinished_target_as_checked(relayguard, scale_fakes):
    """The greeting-pause fakes had not greeted yet: whatever is printed for them is not a
    verdict of closed, suspect or open."""
    targets = ["%s:%d" % (a, SMTP_PORT) for a in SLOW_ADDRESSES]
    process = start_check(relayguard, "--json", "-q", "--depth", "rcpt", "--tests", "S01",
        *targets)
    status, out, err, took = interrupt(process)
    assert status == 2, err
    assert took < SIGINT_EXIT_WITHIN
    for result in parse_json_lines(out):
        assert result["verdict"] in ("inconclusive", "unreachable"), result["reason"]


# ---- the retry queue ----------------------------------------------------------------------------

def test_full_retry_queue_leaves_greylisted_tests_unretried(run_check, scale_fakes):
    targets = ["%s:%d" % (a, SMTP_PORT) for a in GREYLIST_NO_QUEUE_ADDRESSES]
    code, objects, stderr = run_check(*targets, "--concurrency", "1", "--retry-queue", "0",
        "--tests", "S01")
    assert len(objects) == 2, stderr
    for result in objects:
        assert result["verdict"] == "inconclusive", result["reason"]
        test = result["tests"][0]
        assert test["outcome"] == "deferred" and test["attempts"] == 1, test
    assert code == 0


def test_default_retry_queue_retries_greylisted_targets(run_check, scale_fakes):
    targets = ["%s:%d" % (a, SMTP_PORT) for a in GREYLIST_QUEUE_ADDRESSES]
    code, objects, stderr = run_check(*targets, "--concurrency", "1", "--tests", "S01")
    assert len(objects) == 2, stderr
    for result in objects:
        assert result["verdict"] == "open", result["reason"]
        assert result["tests"][0]["attempts"] >= 2
    assert code == 1


def test_greylisted_target_waiting_for_retry_does_not_hold_up_the_others(run_check,
        scale_fakes):
    """--concurrency 1, the greylisted target first: the others finish during its wait."""
    others = secure_addresses(5, start=600)
    targets = ["%s:%d" % (a, SMTP_PORT) for a in [GREYLIST_BESIDE_OTHERS_ADDRESS] + others]
    code, objects, stderr = run_check(*targets, "--concurrency", "1", "--tests", "S01")
    order = [o["address"] for o in objects]
    assert sorted(order) == sorted([GREYLIST_BESIDE_OTHERS_ADDRESS] + others), stderr
    assert order[-1] == GREYLIST_BESIDE_OTHERS_ADDRESS, order
    assert objects[-1]["verdict"] == "open"
    assert code == 1
