# test_dnsbl_server.py - `relayguard dnsbl` answered by dig and by hand-made UDP queries on
# 127.0.0.1: every point of issue 5 item 2, reloads under load, and the rbldnsd command line.
"""The server runs as the real binary ($RELAYGUARD) on a free loopback port.

Zone relays.bl.test (ip4set) holds the RFC 5782 test entry, a /24 with a hole, and an entry
with its own code and text; zone big.bl.test has an NS set too large for 512 octets, so the
TC bit and TCP can be shown.  Data files live in a world-readable temporary directory because
the server drops to "nobody" after binding when the tests run as root.
"""

import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import check_sanitizers

ZONE = "relays.bl.test"
BIG_ZONE = "big.bl.test"
DIG_TIMEOUT = 20
READY_TIMEOUT = 20
RELOAD_TIMEOUT = 10
LOAD_SECONDS = 6
MAPPED_TEST_ENTRY = ("2.0.0.0.0.0.f.7.f.f.f.f." + "0." * 20).rstrip(".")

RELAYS_DATA = """\
$SOA 3600 ns1.relays.bl.test. hostmaster.example.org. 0 3600 600 604800 60
$NS 3600 ns1.relays.bl.test. ns2.relays.bl.test.
$TTL 900
:127.0.0.2:Open relay $ - see https://bl.test/lookup?ip=$
127.0.0.2
192.0.2.0/24
!192.0.2.77
198.51.100.7 :3:Confirmed open relay $
"""

BIG_DATA = "$NS 3600 " + " ".join("a-rather-long-name-server-name-%02d.example.org." % i
    for i in range(20)) + "\n127.0.0.2\n"


def free_port():
    """free_port - a loopback port free for both UDP and TCP right now."""
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


def build_query(name, qtype=1, query_id=None, edns=False):
    """build_query - a DNS query packet (RD clear)."""
    query_id = random.randrange(65536) if query_id is None else query_id
    header = struct.pack("!HHHHHH", query_id, 0, 1, 0, 0, 1 if edns else 0)
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    packet = header + question + b"\0" + struct.pack("!HH", qtype, 1)
    if edns:
        packet += b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return query_id, packet


def udp_ask(port, name, qtype=1, timeout=2.0, sock=None):
    """udp_ask - (rcode, answer count) of one UDP query, or None on a timeout."""
    own = sock is None
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        query_id, packet = build_query(name, qtype)
        sock.sendto(packet, ("127.0.0.1", port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply, _ = sock.recvfrom(4096)
            except socket.timeout:
                return None
            if len(reply) >= 12 and struct.unpack("!H", reply[:2])[0] == query_id:
                return reply[3] & 0x0F, struct.unpack("!H", reply[6:8])[0]
        return None
    finally:
        if own:
            sock.close()


class Dig:
    """A parsed dig reply."""

    def __init__(self, text):
        self.text = text
        match = re.search(r"status: (\w+)", text)
        self.status = match.group(1) if match else None
        match = re.search(r";; flags: ([a-z ]*);", text)
        self.flags = set(match.group(1).split()) if match else set()
        self.opt = "OPT PSEUDOSECTION" in text
        self.answer = self.section("ANSWER")
        self.authority = self.section("AUTHORITY")

    def section(self, name):
        """section - the records of a section as [owner, ttl, class, type, data...] lists."""
        match = re.search(r";; %s SECTION:\n(.*?)(?:\n\n|\Z)" % name, self.text, re.S)
        if not match:
            return []
        return [line.split(None, 4) for line in match.group(1).splitlines() if line.strip()]

    def types(self, section="answer"):
        return [record[3] for record in getattr(self, section)]

    def data(self, rtype, section="answer"):
        return [record[4] for record in getattr(self, section) if record[3] == rtype]


class Server:
    """One running `relayguard dnsbl` with its data directory and log."""

    def __init__(self, relayguard, directory, port, args):
        self.directory = directory
        self.port = port
        self.log_path = os.path.join(directory, "server.log")
        self.control = os.path.join(directory, "control.sock")
        self.log = open(self.log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen([relayguard, "dnsbl", *args], stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail("relayguard dnsbl exited with %s:\n%s" % (self.process.returncode,
                    self.read_log()))
            if udp_ask(port, ZONE, 6, timeout=0.2) is not None:
                return
            time.sleep(0.05)
        self.stop()
        pytest.fail("relayguard dnsbl did not answer:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as stream:
            return stream.read()

    def dig(self, name, rtype="A", *options):
        """dig - ask over UDP (no retry over TCP unless +tcp) and parse the reply."""
        result = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port), name, rtype,
            "+norec", "+time=3", "+tries=1", *options], capture_output=True, text=True,
            timeout=DIG_TIMEOUT)
        assert result.returncode == 0, "dig failed: " + result.stdout + result.stderr
        return Dig(result.stdout)

    def control_command(self, command):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(RELOAD_TIMEOUT)
            client.connect(self.control)
            client.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stop(self):
        """stop - SIGTERM; the server must exit 0 without sanitizer reports."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                pytest.fail("relayguard dnsbl did not stop on SIGTERM")
        self.log.close()
        log = self.read_log()
        check_sanitizers(log)
        return self.process.returncode, log


def data_directory():
    """data_directory - a temporary directory the unprivileged server user can read."""
    directory = tempfile.mkdtemp(prefix="relayguard-dnsbl-")
    os.chmod(directory, 0o755)
    return directory


def write_file(path, text):
    """write_file - write text atomically (temporary file, then rename, as rsync does)."""
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def start_server(relayguard, extra_zones=True, args=None):
    directory = data_directory()
    relays = os.path.join(directory, "relays.txt")
    big = os.path.join(directory, "big.txt")
    write_file(relays, RELAYS_DATA)
    write_file(big, BIG_DATA)
    port = free_port()
    if args is None:
        args = ["-f", "--listen", "127.0.0.1:%d" % port, "--zone", "%s:ip4set:%s" % (ZONE,
            relays)]
        if extra_zones:
            args += ["--zone", "%s:ip4set:%s" % (BIG_ZONE, big)]
        args += ["--control", os.path.join(directory, "control.sock"), "-c", "1",
            "--workers", "2"]
    else:
        args = [a.replace("PORT", str(port)).replace("FILE", relays) for a in args]
    return Server(relayguard, directory, port, args)


@pytest.fixture(scope="module")
def server(relayguard):
    """server - one server for the read-only tests of this module."""
    running = start_server(relayguard)
    yield running
    code, log = running.stop()
    shutil.rmtree(running.directory, ignore_errors=True)
    assert code == 0, log


@pytest.fixture
def own_server(relayguard):
    """own_server - a server of its own, for tests that change its files."""
    started = []

    def start(**kwargs):
        started.append(start_server(relayguard, **kwargs))
        return started[-1]
    yield start
    for running in started:
        code, log = running.stop()
        shutil.rmtree(running.directory, ignore_errors=True)
        assert code == 0, log


# ---- answers (issue 5 item 2) ------------------------------------------------------------

def test_listed_address_gets_a_and_txt(server):
    a = server.dig("7.100.51.198." + ZONE, "A")
    assert a.status == "NOERROR" and "aa" in a.flags
    assert a.data("A") == ["127.0.0.3"]
    txt = server.dig("7.100.51.198." + ZONE, "TXT")
    assert txt.data("TXT") == ['"Confirmed open relay 198.51.100.7"']


def test_rfc5782_test_entries(server):
    listed = server.dig("2.0.0.127." + ZONE, "A")
    assert listed.data("A") == ["127.0.0.2"]
    txt = server.dig("2.0.0.127." + ZONE, "TXT")
    assert txt.data("TXT") == ['"Open relay 127.0.0.2 - see https://bl.test/lookup?ip=127.0.0.2"']
    mapped = server.dig(MAPPED_TEST_ENTRY + "." + ZONE, "A")
    assert mapped.status == "NOERROR" and mapped.data("A") == ["127.0.0.2"]
    not_listed = server.dig("1.0.0.127." + ZONE, "A")
    assert not_listed.status == "NXDOMAIN"


def test_range_listing_and_exclusion(server):
    assert server.dig("5.2.0.192." + ZONE).data("A") == ["127.0.0.2"]
    assert server.dig("77.2.0.192." + ZONE).status == "NXDOMAIN"


def test_apex_has_soa_and_ns(server):
    soa = server.dig(ZONE, "SOA")
    assert soa.status == "NOERROR"
    fields = soa.data("SOA")[0].split()
    assert fields[:2] == ["ns1.relays.bl.test.", "hostmaster.example.org."]
    assert int(fields[2]) > 0      # serial 0 in $SOA: the data file's time
    ns = server.dig(ZONE, "NS")
    assert sorted(ns.data("NS")) == ["ns1.relays.bl.test.", "ns2.relays.bl.test."]


def test_every_negative_answer_carries_the_soa(server):
    for name, rtype, status in (("1.0.0.127." + ZONE, "A", "NXDOMAIN"),
            ("2.0.0.127." + ZONE, "AAAA", "NOERROR"), ("127." + ZONE, "A", "NOERROR"),
            (ZONE, "A", "NOERROR"), ("www." + ZONE, "TXT", "NXDOMAIN")):
        reply = server.dig(name, rtype)
        assert reply.status == status, (name, rtype, reply.text)
        assert reply.answer == [], reply.text
        assert reply.types("authority") == ["SOA"], reply.text
        assert reply.authority[0][0] == ZONE + "."
        assert int(reply.authority[0][1]) == 60      # min(SOA TTL, SOA minimum)


def test_other_query_types_are_nodata_never_notimp(server):
    for rtype in ("AAAA", "MX", "CAA", "TYPE65535", "TYPE250", "HTTPS", "PTR"):
        reply = server.dig("2.0.0.127." + ZONE, rtype)
        assert reply.status == "NOERROR", (rtype, reply.text)
        assert reply.answer == [] and reply.types("authority") == ["SOA"], (rtype, reply.text)
    unlisted = server.dig("1.0.0.127." + ZONE, "CAA")
    assert unlisted.status == "NXDOMAIN"


def test_empty_non_terminals_are_nodata(server):
    for name in ("127." + ZONE, "0.127." + ZONE, "0.0.127." + ZONE, "2.0." + ZONE):
        reply = server.dig(name, "A")
        assert reply.status == "NOERROR", (name, reply.text)
        assert reply.answer == [] and reply.types("authority") == ["SOA"]


def test_opt_in_every_reply_to_an_edns_query(server):
    for name, rtype in (("2.0.0.127." + ZONE, "A"), ("1.0.0.127." + ZONE, "A"),
            (ZONE, "SOA"), ("127." + ZONE, "TXT"), ("example.com", "A")):
        assert server.dig(name, rtype).opt, (name, rtype)
    assert not server.dig("2.0.0.127." + ZONE, "A", "+noedns").opt


def test_truncated_over_udp_then_complete_over_tcp(server):
    udp = server.dig(BIG_ZONE, "NS", "+noedns", "+ignore")
    assert "tc" in udp.flags, udp.text
    assert udp.answer == []
    tcp = server.dig(BIG_ZONE, "NS", "+tcp")
    assert "tc" not in tcp.flags
    assert len(tcp.data("NS")) == 20
    listed = server.dig("2.0.0.127." + ZONE, "TXT", "+tcp")
    assert listed.data("TXT") == ['"Open relay 127.0.0.2 - see https://bl.test/lookup?ip=127.0.0.2"']


def test_names_outside_our_zones_are_refused(server):
    for name in ("example.com", "bl.test", "2.0.0.127.xrelays.bl.test"):
        reply = server.dig(name, "A")
        assert reply.status == "REFUSED", (name, reply.text)
        assert "aa" not in reply.flags


def test_names_are_case_insensitive(server):
    reply = server.dig("2.0.0.127.ReLaYs.BL.TeSt", "A")
    assert reply.status == "NOERROR"
    assert reply.data("A") == ["127.0.0.2"]


def test_malformed_query_gets_formerr(server):
    _, packet = build_query("2.0.0.127." + ZONE, query_id=4242)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(packet[:-3], ("127.0.0.1", server.port))
        reply, _ = sock.recvfrom(4096)
    assert struct.unpack("!H", reply[:2])[0] == 4242
    assert reply[3] & 0x0F == 1


# ---- operations ------------------------------------------------------------------------------

def test_control_socket_status_and_metrics(server):
    status = server.control_command("status")
    assert '"generation":' in status and '"name":"relays.bl.test"' in status
    metrics = server.control_command("metrics")
    assert 'relayguard_dnsbl_queries_total{zone="relays.bl.test",rcode="NOERROR"}' in metrics
    assert "relayguard_dnsbl_query_duration_seconds_bucket" in metrics


def test_prometheus_endpoint_on_loopback(own_server):
    metrics_port = free_port()
    running = own_server(args=["--listen", "127.0.0.1:PORT", "--zone",
        ZONE + ":ip4set:FILE", "--metrics", "127.0.0.1:%d" % metrics_port])
    assert running.dig("2.0.0.127." + ZONE).status == "NOERROR"
    with socket.create_connection(("127.0.0.1", metrics_port), timeout=5) as client:
        client.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        chunks = []
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    response = b"".join(chunks).decode()
    assert response.startswith("HTTP/1.") and " 200 " in response.splitlines()[0]
    match = re.search(r'relayguard_dnsbl_queries_by_type_total\{qtype="A"\} (\d+)', response)
    assert match and int(match.group(1)) >= 1
    assert "relayguard_dnsbl_zone_entries{zone=\"relays.bl.test\"}" in response


def test_rbldnsd_style_arguments(own_server):
    running = own_server(args=["-n", "-b", "127.0.0.1/PORT", "-t", "300", ZONE + ":ip4set:FILE"])
    reply = running.dig("2.0.0.127." + ZONE)
    assert reply.data("A") == ["127.0.0.2"]
    assert int(reply.answer[0][1]) == 900     # $TTL in the file wins over -t


def test_privileges_are_dropped_after_binding(own_server):
    if os.geteuid() != 0:
        pytest.skip("only root can drop privileges")
    running = own_server(extra_zones=False)
    assert "event=privileges_dropped user=nobody" in running.read_log()


def test_missing_data_file_at_start_is_an_error(relayguard):
    directory = data_directory()
    try:
        result = subprocess.run([relayguard, "dnsbl", "--listen", "127.0.0.1:%d" % free_port(),
            "--zone", ZONE + ":ip4set:" + os.path.join(directory, "missing.txt")],
            capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert result.returncode == 2
    assert "missing.txt" in result.stderr
    check_sanitizers(result.stderr)


def test_bad_zone_argument_is_a_usage_error(relayguard):
    result = subprocess.run([relayguard, "dnsbl", "--listen", "127.0.0.1:5399", "--zone",
        ZONE + ":ip5set:/nonexistent"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "ip5set" in result.stderr


# ---- reloads (issue 5 item 4) ----------------------------------------------------------------

def wait_listed(port, address, expected=True):
    """wait_listed - wait until address is (or is no longer) listed; the seconds it took."""
    name = ".".join(reversed(address.split("."))) + "." + ZONE
    started = time.monotonic()
    while time.monotonic() - started < RELOAD_TIMEOUT:
        answer = udp_ask(port, name)
        if answer is not None and (answer[0] == 0) == expected:
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail("%s did not become %s" % (address, "listed" if expected else "unlisted"))


class Load:
    """Steady queries from a thread: listed and unlisted names, every answer checked."""

    def __init__(self, port):
        self.port = port
        self.sent = 0
        self.lost = 0
        self.wrong = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.dig_failures = []
        self.dig_thread = threading.Thread(target=self.run_dig, daemon=True)

    def run(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self.stopping.is_set():
                for name, rcode in (("2.0.0.127." + ZONE, 0), ("1.0.0.127." + ZONE, 3)):
                    self.sent += 1
                    answer = udp_ask(self.port, name, sock=sock)
                    if answer is None:
                        self.lost += 1
                    elif answer[0] != rcode:
                        self.wrong.append((name, answer))

    def run_dig(self):
        while not self.stopping.is_set():
            result = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port),
                "2.0.0.127." + ZONE, "A", "+short", "+time=2", "+tries=1"],
                capture_output=True, text=True, timeout=DIG_TIMEOUT)
            if result.stdout.strip() != "127.0.0.2":
                self.dig_failures.append(result.stdout + result.stderr)

    def __enter__(self):
        self.thread.start()
        self.dig_thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=30)
        self.dig_thread.join(timeout=30)


def test_reload_under_load_keeps_answering(own_server):
    running = own_server(extra_zones=False)
    relays = os.path.join(running.directory, "relays.txt")
    with Load(running.port) as load:
        time.sleep(1)
        for round_number in range(3):
            address = "198.51.100.%d" % (20 + round_number)
            write_file(relays, RELAYS_DATA + address + "\n")
            running.process.send_signal(signal.SIGHUP)
            wait_listed(running.port, address)
            time.sleep(LOAD_SECONDS / 3)
    assert load.sent > 100
    assert load.lost == 0
    assert load.wrong == []
    assert load.dig_failures == []
    assert running.read_log().count("event=zone_ready") >= 4


def test_file_change_is_noticed_without_a_signal(own_server):
    running = own_server(extra_zones=False)
    relays = os.path.join(running.directory, "relays.txt")
    write_file(relays, RELAYS_DATA + "198.51.100.30\n")
    assert wait_listed(running.port, "198.51.100.30") < 5


def test_deleted_data_file_keeps_the_old_data(own_server):
    running = own_server(extra_zones=False)
    relays = os.path.join(running.directory, "relays.txt")
    os.unlink(relays)
    running.process.send_signal(signal.SIGHUP)
    status = running.control_command("reload")
    assert '"last_error":"zone relays.bl.test:' in status
    for name, status_wanted in (("2.0.0.127." + ZONE, "NOERROR"),
            ("7.100.51.198." + ZONE, "NOERROR"), ("1.0.0.127." + ZONE, "NXDOMAIN")):
        assert running.dig(name).status == status_wanted
    assert "event=reload_failed" in running.read_log()
    assert "keeping the last good data" in running.read_log()
    # the file comes back with a new entry: picked up, old entries still served
    write_file(relays, RELAYS_DATA + "198.51.100.40\n")
    wait_listed(running.port, "198.51.100.40")
    assert running.dig("7.100.51.198." + ZONE).data("A") == ["127.0.0.3"]


def test_garbage_data_file_keeps_entries_of_good_lines(own_server):
    running = own_server(extra_zones=False)
    relays = os.path.join(running.directory, "relays.txt")
    write_file(relays, RELAYS_DATA + "this is not an address\n198.51.100.50\n")
    wait_listed(running.port, "198.51.100.50")
    assert running.dig("2.0.0.127." + ZONE).status == "NOERROR"
    assert "relays.txt:" in running.read_log()


def test_control_reload_force_loads_again(own_server):
    running = own_server(extra_zones=False)
    before = running.control_command("status")
    after = running.control_command("reload force")
    generation = lambda text: int(re.search(r'"generation":(\d+)', text).group(1))
    assert generation(after) == generation(before) + 1
