# test_list.py - `relayguard list` and store-fed DNSBL zones (issue 5 items 1, 3, 5): checks of the
# fake relays go into a SQLite store, sync lists them, `relayguard dnsbl` serves them to dig.
"""The listing lifecycle end to end, on loopback only.

Fakes (conftest.py): 127.0.2.2 "open" relays to the session receiver, so `check --confirm`
finds it open/delivered (127.0.0.2); 127.0.2.12 "accept-then-drop" takes the message and
drops it, so a plain check finds it open at end of data (127.0.0.3) and a `--confirm` check
finds it closed.  The DNS server runs as the user running the tests (it drops privileges to
--user after binding), on a free loopback port, and re-reads the store every second.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

from conftest import check_sanitizers, fake_address, fake_target

ZONE = "relays.bl.test"
NS = "ns1.example.org"
OPEN = fake_address("open")                          # 127.0.2.2
DROPPER = fake_address("accept-then-drop")           # 127.0.2.12
READY_TIMEOUT = 20
RELOAD_TIMEOUT = 15
DIG_TIMEOUT = 10
TXT_CONFIRMED = re.compile(r"^Open relay confirmed by relayguard on \d{4}-\d\d-\d\d: "
    r"see https://bl\.example\.org/evidence/(\d+)$")
# Quick and deterministic checks: the client options of conftest's run_check, one trick.
CHECK_OPTIONS = ("--helo", "checker.test", "--timeout", "5", "--greylist-delay", "2",
    "--greeting-timeout", "30", "-q", "--tests", "S02")


def reverse(address):
    """reverse - the DNSBL name of an IPv4 address under ZONE (RFC 5782 2.1)."""
    return ".".join(reversed(address.split("."))) + "." + ZONE


def reverse6(address):
    """reverse6 - the DNSBL name of an IPv6 address under ZONE (32 nibbles)."""
    import ipaddress
    nibbles = ipaddress.ip_address(address).exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + "." + ZONE


def free_port():
    """free_port - a loopback port free for UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port")


def dig(port, name, qtype="A"):
    """dig - (status, [answer data...]) of one query to 127.0.0.1:port."""
    result = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=2",
        "+norecurse", name, qtype], capture_output=True, text=True, timeout=DIG_TIMEOUT)
    match = re.search(r"status: (\w+)", result.stdout)
    status = match.group(1) if match else None
    answers = []
    section = re.search(r";; ANSWER SECTION:\n(.*?)(?:\n\n|\Z)", result.stdout, re.S)
    if section:
        for line in section.group(1).splitlines():
            fields = line.split(None, 4)
            if len(fields) == 5 and fields[3] == qtype:
                answers.append(fields[4].strip('"') if qtype == "TXT" else fields[4])
    return status, sorted(answers)


def wait_for(what, predicate, timeout=RELOAD_TIMEOUT):
    """wait_for - poll predicate() until it is true; fail with what after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail("timed out waiting for %s (last: %r)" % (what, last))


def query(db, sql, *parameters):
    """query - rows of a read-only SQL query on the SQLite store."""
    connection = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


class Server:
    """A DNS server process on 127.0.0.1:port and its log."""

    def __init__(self, argv, port, log_path, name):
        self.port = port
        self.log_path = log_path
        self.name = name
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

    def wait_ready(self, name):
        def ready():
            if self.process.poll() is not None:
                pytest.fail("%s exited: %s" % (self.name, self.output()[-3000:]))
            return dig(self.port, name)[0] == "NOERROR"
        wait_for("%s to answer %s" % (self.name, name), ready, READY_TIMEOUT)

    def output(self):
        with open(self.log_path, errors="replace") as stream:
            return stream.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        return self.output()


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store.sqlite"


@pytest.fixture
def listing(run_relayguard, store):
    """listing(*args) - `relayguard list ARGS --db STORE` as a CompletedProcess."""
    def run(command, *args, timeout=120):
        return run_relayguard("list", command, "--db", str(store), *args, timeout=timeout)
    return run


@pytest.fixture
def check_into(run_relayguard, store, receiver_port):
    """check_into(target, confirm) - one check of a fake with --db STORE; the exit status."""
    def run(target, confirm=False, wait=5):
        args = ["check", "--db", str(store), *CHECK_OPTIONS]
        if confirm:
            args += ["--confirm", "--probe-domain", "probe.relayguard.test", "--receiver",
                "127.0.0.1:%d" % receiver_port, "--confirm-wait", str(wait)]
        result = run_relayguard(*args, target)
        assert result.returncode in (0, 1), result.stderr
        return result.returncode
    return run


@pytest.fixture
def dnsbl(relayguard, store, tmp_path):
    """dnsbl() - `relayguard dnsbl` serving ZONE from STORE, started once the store exists."""
    servers = []

    def start(*options):
        port = free_port()
        user = pwd.getpwuid(os.getuid()).pw_name
        server = Server([relayguard, "dnsbl", "--listen", "127.0.0.1:%d" % port, "--zone",
            "%s:store:%s" % (ZONE, store), "--check-interval", "1", "--ns", NS, "--user", user,
            "--workers", "1", *options], port, tmp_path / "dnsbl.log", "relayguard dnsbl")
        servers.append(server)
        server.wait_ready(reverse("127.0.0.2"))
        return server
    yield start
    for server in servers:
        check_sanitizers(server.stop())


def answers(port, address):
    """answers - (status, A records, TXT records) of an IPv4 address under ZONE."""
    status, a = dig(port, reverse(address), "A")
    _, txt = dig(port, reverse(address), "TXT")
    return status, a, txt


def listed_as(port, address, code):
    """listed_as - a wait_for predicate: address answers A 127.0.0.code."""
    return lambda: dig(port, reverse(address))[1] == ["127.0.0.%d" % code]


def not_listed(port, address):
    """not_listed - a wait_for predicate: address answers NXDOMAIN."""
    return lambda: dig(port, reverse(address))[0] == "NXDOMAIN"


def sync_counts(result):
    """sync_counts - {listed, reconfirmed, delisted, expired} of a sync's summary line."""
    assert result.returncode == 0, result.stderr
    match = re.search(r"(\d+) listed, (\d+) reconfirmed, (\d+) delisted, (\d+) expired",
        result.stdout)
    assert match, result.stdout
    return dict(zip(("listed", "reconfirmed", "delisted", "expired"),
        (int(n) for n in match.groups())))


# ---- automatic listing --------------------------------------------------------------------------

def test_sync_lists_a_confirmed_open_relay_as_delivered(check_into, listing, store):
    assert check_into(fake_target("open"), confirm=True) == 1
    assert sync_counts(listing("sync")) == {"listed": 1, "reconfirmed": 0, "delisted": 0,
        "expired": 0}
    rows = query(store, "SELECT l.prefix, l.reason, l.origin, r.verdict, r.stage "
        "FROM listings l JOIN results r ON r.id = l.result_id")
    assert rows == [(OPEN + "/32", "delivered", "sync", "open", "delivered")]
    # A second sync finds nothing new to do.
    assert sync_counts(listing("sync"))["listed"] == 0


def test_sync_lists_open_at_end_of_data_as_data(check_into, listing, store):
    assert check_into(fake_target("accept-then-drop")) == 1
    assert sync_counts(listing("sync"))["listed"] == 1
    assert query(store, "SELECT prefix, reason FROM listings") == [(DROPPER + "/32", "data")]


def test_sync_never_lists_a_suspect_relay(run_relayguard, listing, store):
    result = run_relayguard("check", "--db", str(store), *CHECK_OPTIONS, "--depth", "rcpt",
        fake_target("accept-then-drop"))
    assert result.returncode in (0, 1), result.stderr
    assert query(store, "SELECT verdict FROM results") == [("suspect",)]
    assert sync_counts(listing("sync"))["listed"] == 0
    assert query(store, "SELECT COUNT(*) FROM listings") == [(0,)]


def test_a_later_closed_check_delists_on_sync(check_into, listing, store):
    assert check_into(fake_target("accept-then-drop")) == 1
    listing("sync")
    assert check_into(fake_target("accept-then-drop"), confirm=True, wait=3) == 0
    assert sync_counts(listing("sync"))["delisted"] == 1
    assert query(store, "SELECT COUNT(*) FROM listings") == [(0,)]
    assert [row[0] for row in query(store, "SELECT action FROM listing_history ORDER BY id")] \
        == ["listed", "delisted"]


def test_recheck_runs_check_on_stale_listings_and_delists_the_closed(check_into, listing,
        store, receiver_port):
    assert check_into(fake_target("accept-then-drop")) == 1
    listing("sync")
    dry = listing("recheck", "--older-than", "0s", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "%s:2525" % DROPPER in dry.stdout
    result = listing("recheck", "--older-than", "0s", "--", *CHECK_OPTIONS, "--confirm",
        "--probe-domain", "probe.relayguard.test", "--receiver",
        "127.0.0.1:%d" % receiver_port, "--confirm-wait", "3", timeout=180)
    assert result.returncode == 0, result.stderr
    assert sync_counts(result)["delisted"] == 1
    assert query(store, "SELECT COUNT(*) FROM results") == [(2,)]
    assert query(store, "SELECT COUNT(*) FROM listings") == [(0,)]
    # Everything was checked just now: nothing is due.
    assert listing("recheck", "--older-than", "1h").returncode == 1


# ---- the DNS zone -------------------------------------------------------------------------------

def test_store_zone_answers_listings_with_their_code_and_evidence(check_into, listing, dnsbl,
        store):
    check_into(fake_target("open"), confirm=True)
    check_into(fake_target("accept-then-drop"))
    listing("sync")
    port = dnsbl().port

    status, a, txt = answers(port, OPEN)
    assert (status, a) == ("NOERROR", ["127.0.0.2"])
    assert len(txt) == 1 and TXT_CONFIRMED.match(txt[0]), txt
    listing_id = int(TXT_CONFIRMED.match(txt[0]).group(1))
    assert query(store, "SELECT prefix FROM listings WHERE id = ?", listing_id) == \
        [(OPEN + "/32",)]
    status, a, txt = answers(port, DROPPER)
    assert (status, a) == ("NOERROR", ["127.0.0.3"])
    assert txt[0].startswith("Open relay (probe accepted at end of data)")
    # RFC 5782: the test point is listed, 127.0.0.1 never; an unlisted address is NXDOMAIN.
    assert answers(port, "127.0.0.2")[:2] == ("NOERROR", ["127.0.0.2"])
    assert answers(port, "127.0.0.1")[0] == "NXDOMAIN"
    assert answers(port, fake_address("secure"))[0] == "NXDOMAIN"


def test_store_zone_follows_remove_add_closed_check_and_expiry(check_into, listing, dnsbl):
    check_into(fake_target("open"), confirm=True)
    check_into(fake_target("accept-then-drop"))
    listing("sync")
    port = dnsbl().port
    assert dig(port, reverse(OPEN))[1] == ["127.0.0.2"]

    assert listing("remove", OPEN).returncode == 0
    wait_for("%s delisted" % OPEN, not_listed(port, OPEN))
    assert listing("remove", OPEN).returncode == 1

    assert listing("add", "198.51.100.0/24", "--comment", "spam trap").returncode == 0
    wait_for("the /24 listed", listed_as(port, "198.51.100.7", 4))
    assert dig(port, reverse("198.51.100.200"))[1] == ["127.0.0.4"]
    assert dig(port, reverse("198.51.101.7"))[0] == "NXDOMAIN"

    check_into(fake_target("accept-then-drop"), confirm=True, wait=3)
    assert sync_counts(listing("sync"))["delisted"] == 1
    wait_for("%s delisted" % DROPPER, not_listed(port, DROPPER))

    # Expiry: the server leaves an expired listing out at once; sync records its end.
    assert listing("add", "203.0.113.5", "--ttl", "4s").returncode == 0
    wait_for("203.0.113.5 listed", listed_as(port, "203.0.113.5", 4))
    wait_for("203.0.113.5 expired", not_listed(port, "203.0.113.5"))
    assert sync_counts(listing("sync"))["expired"] == 1
    assert "203.0.113.5/32" not in listing("show").stdout


def test_store_sync_makes_the_server_list_check_results_itself(check_into, dnsbl, store):
    check_into(fake_target("accept-then-drop"))
    port = dnsbl("--store-sync", "--listing-ttl", "3600").port
    wait_for("%s listed by the server's own sync" % DROPPER, listed_as(port, DROPPER, 3))
    rows = query(store, "SELECT reason, origin, expires_at - listed_at FROM listings")
    assert rows == [("data", "sync", 3600)]
    check_into(fake_target("accept-then-drop"), confirm=True, wait=3)
    wait_for("%s delisted by the server's own sync" % DROPPER, not_listed(port, DROPPER))


def test_store_zone_answers_ipv6_listings(listing, dnsbl):
    assert listing("add", "2001:db8:1::/48", "--reason", "imported").returncode == 0
    port = dnsbl().port
    assert dig(port, reverse6("2001:db8:1::25"))[1] == ["127.0.0.5"]
    assert dig(port, reverse6("2001:db8:2::25"))[0] == "NXDOMAIN"


# ---- show, import -------------------------------------------------------------------------------

def test_show_prints_history_checks_and_the_evidence_transcript(check_into, listing):
    check_into(fake_target("open"), confirm=True)
    listing("sync")
    listed = listing("show", OPEN)
    assert listed.returncode == 0, listed.stderr
    assert "%s/32: listed, 127.0.0.2 delivered" % OPEN in listed.stdout
    assert "TXT: Open relay confirmed by relayguard on" in listed.stdout
    assert listing("remove", OPEN, "--comment", "fixed, ticket 7").returncode == 0

    shown = listing("show", OPEN)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "%s/32: not listed" % OPEN in text
    history = text[text.index("history:"):text.index("checks of")]
    assert re.search(r"listed\s+127\.0\.0\.2\s+delivered\s+by sync\s+result \d+", history), \
        history
    assert re.search(r"removed\s+127\.0\.0\.2\s+delivered\s+by manual.*\"fixed, ticket 7\"",
        history), history
    assert re.search(r"open\s+delivered\s+S02\s+port 2525", text), text
    transcript = text[text.index("evidence transcript"):]
    assert "target %s" % fake_target("open") in transcript
    assert re.search(r"S: 220 ", transcript), transcript
    assert re.search(r"C: RCPT TO:<", transcript, re.I), transcript
    assert re.search(r"S: 250 ", transcript), transcript
    # An address the store never heard of.
    assert listing("show", "192.0.2.99").returncode == 1


def test_import_lists_rbldnsd_lines_and_reports_bad_ones(listing, tmp_path):
    data = tmp_path / "legacy.ip4set"
    data.write_text("# an old rbldnsd file\n$TTL 900\n:127.0.0.2:Open relay $\n127.0.0.2\n"
        "192.0.2.1\n198.51.100 :3:old entry\n203.0.113.0-203.0.113.5\n!192.0.2.77\n"
        "2001:db8:5::/48\nnot-an-address\n127.0.0.1\n")
    result = listing("import", str(data))
    assert result.returncode == 0, result.stderr
    assert "legacy.ip4set:10: not an address" in result.stderr
    # 192.0.2.1, 198.51.100.0/24, 203.0.113.0/30 + /31 (the range), the IPv6 /48
    assert re.search(r"5 listed, 0 already listed \(kept\), 0 updated, 2 not listable",
        result.stdout), result.stdout
    assert "1 exclusions skipped, 1 bad lines" in result.stdout
    shown = listing("show").stdout
    for prefix in ("192.0.2.1/32", "198.51.100.0/24", "203.0.113.0/30", "203.0.113.4/31",
            "2001:db8:5::/48"):
        assert re.search(r"^%s\s+127\.0\.0\.5\s+imported" % re.escape(prefix), shown, re.M), shown
    again = listing("import", str(data))
    assert "0 listed, 5 already listed (kept)" in again.stdout


# ---- export -------------------------------------------------------------------------------------

@pytest.fixture
def readable_dir():
    """readable_dir - a world-readable temporary directory (rbldnsd drops to its own user)."""
    path = tempfile.mkdtemp(prefix="relayguard-list-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def populate(check_into, listing):
    """populate - a store with a confirmed relay, a CIDR, a host inside it, and IPv6."""
    check_into(fake_target("open"), confirm=True)
    listing("sync")
    for args in (("198.51.100.0/24",), ("198.51.100.7", "--reason", "imported"),
            ("2001:db8:1::/48",), ("203.0.113.64/26",)):
        assert listing("add", *args).returncode == 0


def test_rbldnsd_export_is_served_the_same_by_rbldnsd(check_into, listing, dnsbl,
        readable_dir, tmp_path):
    rbldnsd = shutil.which("rbldnsd") or ("/usr/sbin/rbldnsd"
        if os.access("/usr/sbin/rbldnsd", os.X_OK) else None)
    if rbldnsd is None:
        pytest.skip("rbldnsd is not installed (Debian package rbldnsd)")
    populate(check_into, listing)
    ip4 = os.path.join(readable_dir, "relays.ip4set")
    ip6 = os.path.join(readable_dir, "relays.ip6trie")
    for path, family in ((ip4, "ipv4"), (ip6, "ipv6")):
        result = listing("export", "--format", "rbldnsd", "--family", family, "--zone", ZONE,
            "--ns", NS, "-o", path)
        assert result.returncode == 0, result.stderr
        os.chmod(path, 0o644)
    with open(ip4) as stream:
        text = stream.read()
    assert "\n198.51.100.0/24 :127.0.0.4:" in text and "\n127.0.0.2/32 :127.0.0.2:" in text

    ours = dnsbl().port
    port = free_port()
    argv = [rbldnsd, "-n", "-b", "127.0.0.1/%d" % port]
    if os.getuid() == 0:
        argv += ["-u", "nobody"]
    argv += ["%s:ip4set:%s" % (ZONE, ip4), "%s:ip6trie:%s" % (ZONE, ip6)]
    theirs = Server(argv, port, tmp_path / "rbldnsd.log", "rbldnsd")
    try:
        theirs.wait_ready(reverse("127.0.0.2"))
        names = [reverse(a) for a in (OPEN, "127.0.0.2", "127.0.0.1", "198.51.100.7",
            "198.51.100.8", "198.51.101.1", "203.0.113.100", "203.0.113.63", "192.0.2.1")]
        names += [reverse6("2001:db8:1::1"), reverse6("2001:db8:2::1")]
        for name in names:
            for qtype in ("A", "TXT"):
                assert dig(theirs.port, name, qtype) == dig(ours, name, qtype), (name, qtype)
        assert dig(theirs.port, reverse("198.51.100.7"))[1] == ["127.0.0.5"]
        # Same SOA serial: a mirror sees a change exactly when the data changes.
        assert dig(theirs.port, ZONE, "SOA")[1] == dig(ours, ZONE, "SOA")[1]
    finally:
        output = theirs.stop()
    assert "ip4set" in output, output


def test_bind_export_passes_named_checkzone(check_into, listing, tmp_path):
    populate(check_into, listing)
    assert listing("add", "198.51.0.0/16", "--comment", "wide").returncode == 0
    assert listing("add", "198.51.99.1", "--reason", "imported").returncode == 0
    path = tmp_path / "relays.zone"
    result = listing("export", "--format", "bind", "--zone", ZONE, "--ns", NS, "-o", str(path))
    assert result.returncode == 0, result.stderr
    text = path.read_text()
    assert re.search(r"^2\.2\.0\.127\tIN\tA\t127\.0\.0\.2$", text, re.M)
    assert re.search(r"^\*\.100\.51\.198\tIN\tA\t127\.0\.0\.4$", text, re.M)
    assert re.search(r"^7\.100\.51\.198\tIN\tA\t127\.0\.0\.5$", text, re.M)
    # The /26 is split into whole names; the /16 is a wildcard at 51.198.
    assert re.search(r"^64\.113\.0\.203\tIN\tA\t127\.0\.0\.4$", text, re.M)
    assert re.search(r"^127\.113\.0\.203\tIN\tA\t127\.0\.0\.4$", text, re.M)
    assert re.search(r"^\*\.51\.198\tIN\tA\t127\.0\.0\.4$", text, re.M)
    # RFC 4592: the name 1.99.51.198 makes 99.51.198 exist, which hides *.51.198 from the
    # rest of 198.51.99.0/24; the export repeats the /16's wildcard there.
    assert re.search(r"^1\.99\.51\.198\tIN\tA\t127\.0\.0\.5$", text, re.M)
    assert re.search(r"^\*\.99\.51\.198\tIN\tA\t127\.0\.0\.4$", text, re.M)
    checkzone = shutil.which("named-checkzone")
    if checkzone is None:
        pytest.skip("named-checkzone is not installed (Debian package bind9-utils)")
    checked = subprocess.run([checkzone, "-i", "full", ZONE, str(path)], capture_output=True,
        text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK" in checked.stdout
