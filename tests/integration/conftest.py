# conftest.py - fixtures of relayguard's integration tests: fake SMTP servers, a fake DNS server,
# and run_check() around $RELAYGUARD. Everything listens and connects on loopback only.
"""Fixtures for tests/integration.

Fake SMTP servers (one fakes/fake_smtp.py process, session-scoped), each on its own loopback
address, port 2525.  Banner host name H = mx.BEHAVIOUR.test unless given below, T = H without
its first label, I = the address literal.

    address          behaviour                    notes
    127.0.2.1        secure                       relays nothing
    127.0.2.2        open                         next_hop = receiver (confirm tests)
    127.0.2.3        percent                      u%V@own; next_hop = receiver
    127.0.2.4        bang                         V!u, V!u@own
    127.0.2.5        quoted                       "u@V", "u@V"@own, "u@V@H"
    127.0.2.6        source-route                 @own:u@V
    127.0.2.7        double-at                    u@V@own
    127.0.2.8        trailing-at                  u@V@
    127.0.2.9        encapsulated                 IMCEASMTP-u+40V@own (Exchange 5.5)
    127.0.2.10       local-sender-spoof           trusts MAIL FROM own/localhost/no domain
    127.0.2.11       null-sender                  relays for MAIL FROM:<>
    127.0.2.12       accept-then-drop             250 after the dot, never delivers
    127.0.2.13       reject-at-data               RCPT 250, DATA 554
    127.0.2.14       reject-after-dot             RCPT 250, 354, 554 after the dot
    127.0.2.15       greylist                     450 first, open after 1 s
    127.0.2.16       greeting-pause               15 s before the banner
    127.0.2.17       multiline-banner             3-line banner, 2-line replies, split writes
    127.0.2.18       starttls-required            530 before STARTTLS, open under TLS
    127.0.2.19       helo-only                    EHLO 502, open
    127.0.2.20       ehlo-only                    HELO 502, secure
    127.0.2.21       reject-421                   421 at connect
    127.0.2.22       drop-mid-battery             hangs up at the 6th RCPT; relays @own:u@V
    127.0.2.23       garbage                      garbage after EHLO
    127.0.2.24       greylist-forever             450 for ever
    127.0.2.25       mail-refused-rcpt-accepted   MAIL 5xx for foreign senders, RCPT 250 (X03)
    127.0.2.26       auth-any                     any AUTH succeeds, then relays (X02)
    127.0.2.27       tarpit                       8 s before each MAIL/RCPT/DATA reply
    127.0.2.40       secure                       H = mx1.two-mx.test (MX 10 of two-mx.test)
    127.0.2.41       secure                       H = mx2.two-mx.test (MX 20 of two-mx.test)
    ::1              open                         H = mx2.two-mx.test (AAAA of mx2)
    127.0.2.42       secure                       H = nomx.test (A of nomx.test, no MX)

Scale fakes (a second fake_smtp.py process, session-scoped, fixture scale_fakes; port 2525):

    address            behaviour                  notes
    127.0.8.0/22       mixed, by offset i         scale_behaviour(i): i % 64 == 5 nothing listens,
                       (0..1023 in the /22)       i % 32 == 3 reject-421, i % 16 == 1 open,
                                                  i % 16 == 2 null-sender, i % 64 == 9 tarpit
                                                  (0.3 s), i % 64 == 13 multiline-banner,
                                                  every other offset secure
    127.0.12.1-8       greeting-pause             30 s before the banner (SIGINT tests)
    127.0.12.10-11     greylist                   450 first, open after 1 s (--retry-queue 0)
    127.0.12.12-13     greylist                   450 first, open after 1 s (default queue)
    127.0.12.14        greylist                   450 first, open after 1 s (queue vs others)
    127.0.12.20        late-relay                 relays 3 s after the 250; next_hop = the
                                                  late receiver (127.0.0.1:late_receiver_port)
    127.0.12.21        open                       relays at once, 221 to QUIT 0.5 s late;
                                                  next_hop = the late receiver

Fake DNS server (fakes/fake_dns.py) on 127.0.0.1:<free port>, zone "test": two-mx.test (MX 10
mx1, MX 20 mx2), mx1.two-mx.test A 127.0.2.40, mx2.two-mx.test A 127.0.2.41 AAAA ::1,
nullmx.test MX 0 ".", nomx.test A 127.0.2.42, missing.test NXDOMAIN, reserved.test A 10.1.2.3
(a reserved address: relayguard must refuse it without connecting; only resolved inside a
network namespace of its own, see test_check_scale.py).

The receiver of --confirm tests listens on 127.0.0.1:RECEIVER_PORT, a port chosen once per
session; the open and percent fakes relay to it.
"""

import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FAKES = HERE / "fakes"
PYTHON = sys.executable or "/usr/bin/python3"
SMTP_PORT = 2525
VICTIM = "relay-victim.example.net"
PROBE_DOMAIN = "probe.relayguard.test"
READY_TIMEOUT = 30
CHECK_TIMEOUT = 300
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")

FAKE_NUMBERS = {
    "secure": 1, "open": 2, "percent": 3, "bang": 4, "quoted": 5, "source-route": 6,
    "double-at": 7, "trailing-at": 8, "encapsulated": 9, "local-sender-spoof": 10,
    "null-sender": 11, "accept-then-drop": 12, "reject-at-data": 13, "reject-after-dot": 14,
    "greylist": 15, "greeting-pause": 16, "multiline-banner": 17, "starttls-required": 18,
    "helo-only": 19, "ehlo-only": 20, "reject-421": 21, "drop-mid-battery": 22, "garbage": 23,
    "greylist-forever": 24, "mail-refused-rcpt-accepted": 25, "auth-any": 26, "tarpit": 27,
}
CONFIRM_BEHAVIOURS = ("open", "percent", "accept-then-drop")
FAKE_OPTIONS = {
    "greeting-pause": {"pause": 15},
    "greylist": {"delay": 1},
    "tarpit": {"delay": 8},
}
MX1_ADDRESS = "127.0.2.40"
MX2_ADDRESS = "127.0.2.41"
MX2_ADDRESS6 = "::1"
NOMX_ADDRESS = "127.0.2.42"

DNS_ZONE = {
    "zones": ["test"],
    "ttl": 60,
    "records": {
        "two-mx.test": {"MX": [[10, "mx1.two-mx.test"], [20, "mx2.two-mx.test"]]},
        "mx1.two-mx.test": {"A": [MX1_ADDRESS]},
        "mx2.two-mx.test": {"A": [MX2_ADDRESS], "AAAA": [MX2_ADDRESS6]},
        "nullmx.test": {"MX": [[0, "."]]},
        "nomx.test": {"A": [NOMX_ADDRESS]},
        "txt.two-mx.test": {"TXT": ["v=spf1 -all"]},
        "reserved.test": {"A": ["10.1.2.3"]},
    },
}

SCALE_NETWORK = "127.0.8.0/22"
SCALE_FIRST = (127, 0, 8, 0)
SCALE_SIZE = 1024
SCALE_TARPIT_DELAY = 0.3
SLOW_ADDRESSES = ["127.0.12.%d" % n for n in range(1, 9)]
SLOW_PAUSE = 30
GREYLIST_NO_QUEUE_ADDRESSES = ["127.0.12.10", "127.0.12.11"]
GREYLIST_QUEUE_ADDRESSES = ["127.0.12.12", "127.0.12.13"]
GREYLIST_BESIDE_OTHERS_ADDRESS = "127.0.12.14"
LATE_RELAY_ADDRESS = "127.0.12.20"
LATE_RELAY_DELAY = 3
PROMPT_RELAY_ADDRESS = "127.0.12.21"
PROMPT_RELAY_QUIT_DELAY = 0.5


def fake_address(behaviour):
    """fake_address - the loopback address of a behaviour's fake (see the table above)."""
    return "127.0.2.%d" % FAKE_NUMBERS[behaviour]


def fake_target(behaviour):
    """fake_target - "127.0.2.N:2525", the target argument for a behaviour's fake."""
    return "%s:%d" % (fake_address(behaviour), SMTP_PORT)


def scale_address(offset):
    """scale_address - the address at offset 0..SCALE_SIZE-1 of SCALE_NETWORK."""
    a, b, c, d = SCALE_FIRST
    value = (a << 24 | b << 16 | c << 8 | d) + offset
    return "%d.%d.%d.%d" % (value >> 24, (value >> 16) & 255, (value >> 8) & 255, value & 255)


def scale_offset(address):
    """scale_offset - the offset of an address inside SCALE_NETWORK (may be out of range)."""
    a, b, c, d = (int(part) for part in address.split("."))
    first = SCALE_FIRST
    return (a << 24 | b << 16 | c << 8 | d) - (
        first[0] << 24 | first[1] << 16 | first[2] << 8 | first[3])


def scale_behaviour(offset):
    """scale_behaviour - the behaviour of the scale fake at an offset, None when nothing listens."""
    if offset % 64 == 5:
        return None
    if offset % 32 == 3:
        return "reject-421"
    if offset % 16 == 1:
        return "open"
    if offset % 16 == 2:
        return "null-sender"
    if offset % 64 == 9:
        return "tarpit"
    if offset % 64 == 13:
        return "multiline-banner"
    return "secure"


def free_port():
    """free_port - a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(process, name):
    """wait_ready - the READY line of a fake (its first stdout line), or fail with its stderr."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if line.startswith("READY"):
                return line.strip()
            if not line:
                break
        if process.poll() is not None:
            break
    process.kill()
    _, errors = process.communicate(timeout=5)
    pytest.fail("%s did not start: %s" % (name, errors.strip()[-2000:]))


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class FakeSmtp:
    """The running fake_smtp.py process and a reader for its JSON-lines event log."""

    def __init__(self, log_path):
        self.log_path = log_path

    def events(self):
        """events - every event logged so far, as dicts."""
        with open(self.log_path, encoding="utf-8") as stream:
            return [json.loads(line) for line in stream if line.strip()]

    def connections(self, address, port=SMTP_PORT):
        """connections - how many connections the fake at address:port has accepted so far."""
        listener = "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)
        return sum(1 for e in self.events()
            if e.get("listener") == listener and e.get("event") == "connect")

    def relays(self, address):
        """relays - the relay events (next_hop delivery attempts) of the fake at address."""
        listener = "%s:%d" % (address, SMTP_PORT)
        return [e for e in self.events() if e.get("listener") == listener and e.get("event") == "relay"]

    def connected_addresses(self, since=0.0, port=SMTP_PORT):
        """connected_addresses - {address: connections accepted at or after `since` (epoch s)}."""
        counts = {}
        suffix = ":%d" % port
        for event in self.events():
            listener = event.get("listener", "")
            if event.get("event") != "connect" or event.get("time", 0) < since:
                continue
            if not listener.endswith(suffix):
                continue
            address = listener[:-len(suffix)].strip("[]")
            counts[address] = counts.get(address, 0) + 1
        return counts

    def connect_times(self, since=0.0):
        """connect_times - the times (epoch s) of every connection accepted at or after since."""
        return sorted(e["time"] for e in self.events()
            if e.get("event") == "connect" and e.get("time", 0) >= since)


@pytest.fixture(scope="session")
def fake_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("relayguard-fakes")


@pytest.fixture(scope="session")
def tls_files(fake_dir):
    """tls_files - (cert, key): a self-signed certificate made with the openssl CLI."""
    cert = fake_dir / "cert.pem"
    key = fake_dir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=mx.starttls-required.test"],
        check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


@pytest.fixture(scope="session")
def receiver_port():
    """receiver_port - where relayguard's --confirm receiver listens (the fakes' next_hop)."""
    return free_port()


def smtp_config(tls_files, receiver_port):
    """smtp_config - the fake_smtp.py listener list for the table at the top of this file."""
    cert, key = tls_files
    config = []
    for behaviour, number in FAKE_NUMBERS.items():
        options = dict(FAKE_OPTIONS.get(behaviour, {}))
        if behaviour in CONFIRM_BEHAVIOURS:
            options["next_hop"] = "127.0.0.1:%d" % receiver_port
        if behaviour == "starttls-required":
            options.update(cert=cert, key=key)
        config.append({"behaviour": behaviour, "address": "127.0.2.%d" % number,
            "port": SMTP_PORT, "options": options})
    config.append({"behaviour": "secure", "address": MX1_ADDRESS, "port": SMTP_PORT,
        "options": {"hostname": "mx1.two-mx.test"}})
    config.append({"behaviour": "secure", "address": MX2_ADDRESS, "port": SMTP_PORT,
        "options": {"hostname": "mx2.two-mx.test"}})
    config.append({"behaviour": "open", "address": MX2_ADDRESS6, "port": SMTP_PORT,
        "options": {"hostname": "mx2.two-mx.test"}})
    config.append({"behaviour": "secure", "address": NOMX_ADDRESS, "port": SMTP_PORT,
        "options": {"hostname": "nomx.test"}})
    return config


@pytest.fixture(scope="session")
def fake_smtp(fake_dir, tls_files, receiver_port):
    """fake_smtp - every fake SMTP server of the table above, running for the whole session."""
    config_path = fake_dir / "smtp.json"
    log_path = fake_dir / "smtp-events.jsonl"
    config_path.write_text(json.dumps(smtp_config(tls_files, receiver_port), indent=1))
    log_path.write_text("")
    process = subprocess.Popen([PYTHON, str(FAKES / "fake_smtp.py"), "--config",
        str(config_path), "--log", str(log_path)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    wait_ready(process, "fake_smtp.py")
    yield FakeSmtp(log_path)
    stop(process)


@pytest.fixture(scope="session")
def late_receiver_port():
    """late_receiver_port - where a `relayguard receiver` process listens in the store tests
    (the late-relay fake's next_hop)."""
    return free_port()


def scale_config(late_receiver_port):
    """scale_config - the listener list of the scale fakes (second table at the top)."""
    config = []
    for offset in range(SCALE_SIZE):
        behaviour = scale_behaviour(offset)
        if behaviour is None:
            continue
        options = {"delay": SCALE_TARPIT_DELAY} if behaviour == "tarpit" else {}
        config.append({"behaviour": behaviour, "address": scale_address(offset),
            "port": SMTP_PORT, "options": options})
    for address in SLOW_ADDRESSES:
        config.append({"behaviour": "greeting-pause", "address": address, "port": SMTP_PORT,
            "options": {"pause": SLOW_PAUSE}})
    for address in (GREYLIST_NO_QUEUE_ADDRESSES + GREYLIST_QUEUE_ADDRESSES
            + [GREYLIST_BESIDE_OTHERS_ADDRESS]):
        config.append({"behaviour": "greylist", "address": address, "port": SMTP_PORT,
            "options": {"delay": 1}})
    config.append({"behaviour": "late-relay", "address": LATE_RELAY_ADDRESS, "port": SMTP_PORT,
        "options": {"delay": LATE_RELAY_DELAY,
            "next_hop": "127.0.0.1:%d" % late_receiver_port}})
    config.append({"behaviour": "open", "address": PROMPT_RELAY_ADDRESS, "port": SMTP_PORT,
        "options": {"hostname": "mx.prompt-relay.test", "quit_delay": PROMPT_RELAY_QUIT_DELAY,
            "next_hop": "127.0.0.1:%d" % late_receiver_port}})
    return config


@pytest.fixture(scope="session")
def scale_fakes(fake_dir, late_receiver_port):
    """scale_fakes - the scale fakes of the second table above, for the whole session."""
    config_path = fake_dir / "scale.json"
    log_path = fake_dir / "scale-events.jsonl"
    config_path.write_text(json.dumps(scale_config(late_receiver_port)))
    log_path.write_text("")
    process = subprocess.Popen([PYTHON, str(FAKES / "fake_smtp.py"), "--config",
        str(config_path), "--log", str(log_path)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    wait_ready(process, "fake_smtp.py (scale)")
    yield FakeSmtp(log_path)
    stop(process)


@pytest.fixture(scope="session")
def fake_dns(fake_dir):
    """fake_dns - "127.0.0.1:PORT" of the fake DNS server holding DNS_ZONE."""
    zone_path = fake_dir / "zone.json"
    zone_path.write_text(json.dumps(DNS_ZONE, indent=1))
    process = subprocess.Popen([PYTHON, str(FAKES / "fake_dns.py"), "--zone", str(zone_path),
        "--address", "127.0.0.1", "--port", "0", "--log", str(fake_dir / "dns-queries.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = wait_ready(process, "fake_dns.py")
    yield "127.0.0.1:%s" % ready.split()[1]
    stop(process)


@pytest.fixture(scope="session")
def relayguard():
    """relayguard - path of the binary under test; skips while $RELAYGUARD is unset or missing."""
    path = os.environ.get("RELAYGUARD")
    if not path:
        pytest.skip("RELAYGUARD is not set: build relayguard and run with "
            "RELAYGUARD=/path/to/relayguard (make test sets it)")
    if not os.access(path, os.X_OK):
        pytest.skip("RELAYGUARD=%s is missing or not executable" % path)
    return path


def check_sanitizers(stderr):
    for marker in SANITIZER_MARKERS:
        if marker in stderr:
            pytest.fail("relayguard reported a sanitizer error:\n" + stderr[-6000:])


@pytest.fixture
def run_relayguard(relayguard, fake_smtp, fake_dns):
    """run_relayguard(*args, timeout=) - run "$RELAYGUARD args...", return the CompletedProcess.

    Fails the test on a sanitizer report or when the command runs past its timeout."""
    def run(*args, timeout=CHECK_TIMEOUT):
        try:
            result = subprocess.run([relayguard, *args], capture_output=True, text=True,
                timeout=timeout, stdin=subprocess.DEVNULL, errors="replace")
        except subprocess.TimeoutExpired as expired:
            pytest.fail("relayguard %s ran longer than %d s; stderr:\n%s" % (
                " ".join(args), timeout, (expired.stderr or b"")[-3000:]))
        check_sanitizers(result.stderr)
        return result
    return run


@pytest.fixture
def run_check(run_relayguard):
    """run_check(*args, timeout=) - "relayguard check --json ..." -> (exit code, objects, stderr).

    Common options: --json --helo checker.test --timeout 5 --greylist-delay 2
    --greeting-timeout 30 -q.  Every stdout line must be one JSON object."""
    def run(*args, timeout=CHECK_TIMEOUT):
        result = run_relayguard("check", "--json", "--helo", "checker.test", "--timeout", "5",
            "--greylist-delay", "2", "--greeting-timeout", "30", "-q", *args, timeout=timeout)
        objects = []
        for line in result.stdout.splitlines():
            if not line.strip():
                continue
            try:
                objects.append(json.loads(line))
            except ValueError:
                pytest.fail("stdout line is not JSON: %r\nstderr:\n%s" % (line, result.stderr))
        return result.returncode, objects, result.stderr
    return run


@pytest.fixture
def confirm_args(receiver_port):
    """confirm_args(wait) - the options of a --confirm run against the session's receiver."""
    def args(wait=10):
        return ["--confirm", "--probe-domain", PROBE_DOMAIN, "--receiver",
            "127.0.0.1:%d" % receiver_port, "--confirm-wait", str(wait)]
    return args


def only_target(objects):
    """only_target - the one JSON object of a single-target run."""
    assert len(objects) == 1, "expected one target object, got %d: %r" % (len(objects), objects)
    return objects[0]


def tricks_of(result):
    return set(result["tricks"])


def assert_tricks(result, expected, ignore=()):
    """assert_tricks - the target's trick ids (less ignore) are exactly expected; on failure
    the message names the extra and missing ids with their outcomes and replies."""
    got = tricks_of(result) - set(ignore)
    if got == set(expected):
        return
    tests = {test["id"]: test for test in result.get("tests", [])}
    lines = ["trick ids differ (verdict %s, stage %s)" % (result["verdict"], result["stage"])]
    for label, ids in (("extra", got - set(expected)), ("missing", set(expected) - got)):
        for test_id in sorted(ids):
            test = tests.get(test_id, {})
            replies = ", ".join("%s %s" % (r.get("command"), r.get("code"))
                for r in test.get("replies", []))
            lines.append("  %s %s: outcome %s; replies %s" % (label, test_id,
                test.get("outcome"), replies))
    raise AssertionError("\n".join(lines))
