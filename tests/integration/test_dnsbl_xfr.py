# test_dnsbl_xfr.py - zone distribution of `relayguard dnsbl` (issue 5 item 3): a real NSD
# on loopback is its secondary; AXFR, NOTIFY, IXFR, and the transfer ACL, checked with dig.
"""relayguard dnsbl serves relays.bl.test on 127.0.0.1:P and allows transfers to
127.0.0.2 only (xfr_allow), sending NOTIFY to the NSD.  NSD (Debian package nsd) runs as a
throw-away instance from a temporary directory: its own config, port, zonesdir, pidfile,
no system service; it transfers from 127.0.0.1:P with 127.0.0.2 as its source address
(outgoing-interface).  The test compares what dig gets from both servers for listed,
excluded, unlisted and apex names, changes the data file, and waits for NOTIFY to make NSD
fetch the new serial.

What a secondary serves differs from relayguard only where DNS wildcards must (see
relayguard-dnsbl(8), "Zone transfers"): an excluded address is a CNAME to excluded.ZONE, which
does not exist, so the answer is NXDOMAIN with that CNAME; the TXT of an address answered by
a wildcard names its block ("192.0.2.0/24") instead of the address.
"""

import ctypes
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import pytest

from conftest import check_sanitizers

ZONE = "relays.bl.test"
CLIENT_ALLOWED = "127.0.0.2"     # NSD's source address and the one address xfr_allow has
CLIENT_REFUSED = "127.0.0.1"
DIG_TIMEOUT = 20
READY_TIMEOUT = 20
SYNC_TIMEOUT = 15
PR_SET_CHILD_SUBREAPER = 36      # prctl(2)

IP4_DATA = """\
$SOA 3600 ns1.relays.bl.test. hostmaster.example.org. 0 3600 600 604800 60
$NS 3600 ns1.relays.bl.test. ns2.example.net.
$TTL 900
:127.0.0.2:Open relay $ - see https://bl.test/lookup?ip=$
127.0.0.2
192.0.2.0/24
!192.0.2.77
198.51.100.7 :3:Confirmed open relay $
198.51.96.0/20 :4:Range $
!198.51.100.32/28
203.0.113.9 :5:
"""

IP6_DATA = """\
:127.0.0.6:IPv6 relay $
2001:db8::/48
!2001:db8::1
2001:db8:0:1::7
"""

# name below the zone -> what it is: "explicit" (an address of its own), "wildcard" (answered
# by a block), "excluded", "unlisted", "apex"
IP4_NAMES = {
    "2.0.0.127": "explicit", "1.0.0.127": "unlisted",
    "5.2.0.192": "wildcard", "200.2.0.192": "wildcard", "77.2.0.192": "excluded",
    "7.100.51.198": "explicit", "33.100.51.198": "excluded", "20.100.51.198": "wildcard",
    "1.96.51.198": "wildcard", "1.112.51.198": "unlisted",
    "9.113.0.203": "explicit", "10.113.0.203": "unlisted", "1.0.0.10": "unlisted",
}


def nibbles(address):
    """nibbles - the reversed-nibble name of an IPv6 address (without the zone)."""
    packed = socket.inet_pton(socket.AF_INET6, address)
    return ".".join(reversed("".join("%02x" % byte for byte in packed)))


IP6_NAMES = {
    nibbles("::ffff:127.0.0.2"): "explicit", nibbles("::ffff:127.0.0.1"): "unlisted",
    nibbles("::ffff:192.0.2.5"): "wildcard", nibbles("::ffff:192.0.2.77"): "excluded",
    nibbles("2001:db8::2"): "wildcard", nibbles("2001:db8::1"): "excluded",
    nibbles("2001:db8:0:1::7"): "wildcard", nibbles("2001:db8:1::"): "unlisted",
}


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


def write_file(path, text):
    """write_file - write text atomically (temporary file, then rename, as rsync does)."""
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def dig(port, name, rtype="A", *options, source=None):
    """dig - the answer as (status, [(owner, type, data)]) over UDP, +norec."""
    command = ["dig", "@127.0.0.1", "-p", str(port), name, rtype, "+norec", "+time=3",
        "+tries=2", "+nocookie"]
    if source:
        command += ["-b", source]
    result = subprocess.run(command + list(options), capture_output=True, text=True,
        timeout=DIG_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    status = None
    answer = []
    section = None
    for line in result.stdout.splitlines():
        if "status:" in line:
            status = line.split("status:")[1].split(",")[0].strip()
        if line.startswith(";; ANSWER SECTION"):
            section = answer
            continue
        if line.startswith(";;") or not line.strip():
            section = None if not line.strip() else section
            continue
        if section is not None:
            fields = line.split(None, 4)
            section.append((fields[0].lower(), fields[3], fields[4]))
    return status, answer


def data_of(answer, rtype):
    return sorted(data for _, kind, data in answer if kind == rtype)


def serial_of(port):
    status, answer = dig(port, ZONE, "SOA")
    soa = data_of(answer, "SOA")
    return int(soa[0].split()[2]) if status == "NOERROR" and soa else None


def raw_axfr_rcode(port, source):
    """raw_axfr_rcode - the rcode of the first reply to an AXFR over TCP from source."""
    question = b"".join(bytes([len(label)]) + label.encode() for label in ZONE.split("."))
    query = struct.pack("!HHHHHH", 0x4242, 0, 1, 0, 0, 0) + question + b"\0" + \
        struct.pack("!HH", 252, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(struct.pack("!H", len(query)) + query)
        header = b""
        while len(header) < 2 + 12:
            chunk = sock.recv(2 + 12 - len(header))
            if not chunk:
                break
            header += chunk
    assert len(header) == 14 and struct.unpack("!H", header[2:4])[0] == 0x4242
    return header[5] & 0x0F


def raw_udp_axfr_rcode(port, source):
    """raw_udp_axfr_rcode - the rcode of the reply to an AXFR sent over UDP from source."""
    question = b"".join(bytes([len(label)]) + label.encode() for label in ZONE.split("."))
    query = struct.pack("!HHHHHH", 0x4343, 0, 1, 0, 0, 0) + question + b"\0" + \
        struct.pack("!HH", 252, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.sendto(query, ("127.0.0.1", port))
        reply, _ = sock.recvfrom(4096)
    assert struct.unpack("!H", reply[:2])[0] == 0x4343
    return reply[3] & 0x0F


class Relayguard:
    """relayguard dnsbl on 127.0.0.1:port with the transfer ACL and NOTIFY to NSD."""

    def __init__(self, binary, directory, port, nsd_port):
        self.port = port
        self.directory = directory
        self.log_path = os.path.join(directory, "relayguard.log")
        self.log = open(self.log_path, "w", encoding="utf-8")
        config = os.path.join(directory, "dnsbl.ini")
        with open(config, "w", encoding="utf-8") as stream:
            stream.write("[dnsbl]\nxfr_allow = %s/32\nnotify = 127.0.0.1:%d\n" % (
                CLIENT_ALLOWED, nsd_port))
        os.chmod(config, 0o644)
        self.process = subprocess.Popen([binary, "dnsbl", "--config", config, "-f",
            "--listen", "127.0.0.1:%d" % port,
            "--zone", "%s:ip4set:%s" % (ZONE, os.path.join(directory, "relays.txt")),
            "--zone", "%s:ip6trie:%s" % (ZONE, os.path.join(directory, "relays6.txt")),
            "--workers", "1", "-c", "1"], stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail("relayguard dnsbl exited:\n" + self.read_log())
            try:
                if serial_of(port) is not None:
                    return
            except (AssertionError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail("relayguard dnsbl did not answer:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as stream:
            return stream.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        check_sanitizers(self.read_log())
        return self.process.returncode


class Nsd:
    """A throw-away NSD in its own directory: secondary of ZONE, transfers from 127.0.0.2."""

    def __init__(self, binary, directory, port, primary_port):
        self.port = port
        self.directory = directory
        self.log_path = os.path.join(directory, "nsd.log")
        config = os.path.join(directory, "nsd.conf")
        with open(config, "w", encoding="utf-8") as stream:
            stream.write("""server:
    ip-address: 127.0.0.1@{port}
    port: {port}
    zonesdir: "{dir}"
    pidfile: "{dir}/nsd.pid"
    xfrdfile: "{dir}/xfrd.state"
    zonelistfile: "{dir}/zone.list"
    xfrdir: "{dir}"
    database: ""
    logfile: "{log}"
    username: ""
    chroot: ""
    verbosity: 2
    server-count: 1
    do-ip6: no
remote-control:
    control-enable: no
zone:
    name: {zone}
    zonefile: "{zone}.zone"
    request-xfr: 127.0.0.1@{primary} NOKEY
    allow-notify: 127.0.0.1 NOKEY
    outgoing-interface: {source}
""".format(port=port, dir=directory, log=self.log_path, zone=ZONE, primary=primary_port,
                source=CLIENT_ALLOWED))
        check = subprocess.run([binary + "-checkconf", config], capture_output=True,
            text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        self.output = open(os.path.join(directory, "nsd.out"), "w", encoding="utf-8")
        # -d: stay in the foreground, so the process we started is the one we stop
        self.process = subprocess.Popen([binary, "-d", "-c", config],
            stdin=subprocess.DEVNULL, stdout=self.output, stderr=subprocess.STDOUT)

    def read_log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as stream:
                return stream.read()
        except FileNotFoundError:
            return ""

    def wait_serial(self, serial):
        """wait_serial - until NSD answers the zone with this SOA serial."""
        deadline = time.monotonic() + SYNC_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail("nsd exited:\n" + self.read_log())
            try:
                if serial_of(self.port) == serial:
                    return
            except (AssertionError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.1)
        pytest.fail("NSD did not get serial %d:\n%s" % (serial, self.read_log()))

    def children(self):
        """children - every process below the NSD we started (xfrd, servers, and the ones
        a reload after a transfer forks)."""
        parents = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry, encoding="utf-8") as stream:
                    parents[int(entry)] = int(stream.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
        found = []
        below = [self.process.pid]
        while below:
            parent = below.pop()
            for pid, ppid in parents.items():
                if ppid == parent:
                    found.append(pid)
                    below.append(pid)
        return found

    def stop(self):
        """stop - SIGTERM to the NSD we started; its children that outlive it are
        re-parented to us (a child subreaper for this moment) and reaped by their pid."""
        children = self.children()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            deadline = time.monotonic() + 10
            for child in children:
                while time.monotonic() < deadline:
                    try:
                        if os.waitpid(child, os.WNOHANG)[0] == child:
                            break
                    except ChildProcessError:
                        break       # reaped by NSD itself
                    time.sleep(0.05)
        finally:
            libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        self.output.close()


@pytest.fixture
def pair(relayguard):
    """pair - relayguard dnsbl and an NSD that is its secondary, both on loopback."""
    nsd = shutil.which("nsd") or ("/usr/sbin/nsd" if os.access("/usr/sbin/nsd", os.X_OK)
        else None)
    if nsd is None:
        pytest.skip("NSD is not installed (Debian package nsd; make deps installs it)")
    directory = tempfile.mkdtemp(prefix="relayguard-xfr-")
    os.chmod(directory, 0o755)
    nsd_directory = os.path.join(directory, "nsd")
    os.mkdir(nsd_directory)
    write_file(os.path.join(directory, "relays.txt"), IP4_DATA)
    write_file(os.path.join(directory, "relays6.txt"), IP6_DATA)
    port, nsd_port = free_port(), free_port()
    primary = Relayguard(relayguard, directory, port, nsd_port)
    secondary = None
    try:
        secondary = Nsd(nsd, nsd_directory, nsd_port, port)
        secondary.wait_serial(serial_of(port))
        yield primary, secondary
    finally:
        if secondary is not None:
            secondary.stop()
        code = primary.stop()
        shutil.rmtree(directory, ignore_errors=True)
    assert code == 0, primary.read_log()


def expect_same(primary, secondary, name, kind, expected_wildcard_txt=None):
    """expect_same - NSD answers name as relayguard does (see the module docstring)."""
    full = name + "." + ZONE
    ours_status, ours = dig(primary.port, full, "A")
    theirs_status, theirs = dig(secondary.port, full, "A")
    assert ours_status == theirs_status, (full, ours, theirs)
    assert data_of(ours, "A") == data_of(theirs, "A"), (full, ours, theirs)
    if kind == "excluded":
        assert ours_status == "NXDOMAIN" and ours == []
        assert data_of(theirs, "CNAME") == ["excluded.%s." % ZONE], theirs
        return
    if kind == "unlisted":
        assert ours_status == "NXDOMAIN" and theirs == []
        return
    assert ours_status == "NOERROR" and data_of(ours, "A"), (full, ours)
    ours_status, ours = dig(primary.port, full, "TXT")
    theirs_status, theirs = dig(secondary.port, full, "TXT")
    assert ours_status == theirs_status == "NOERROR"
    if kind == "explicit":
        assert data_of(ours, "TXT") == data_of(theirs, "TXT"), (full, ours, theirs)
    elif expected_wildcard_txt is not None:
        assert data_of(theirs, "TXT") == [expected_wildcard_txt], (full, theirs)


def test_nsd_secondary_answers_like_relayguard(pair):
    primary, secondary = pair
    assert serial_of(secondary.port) == serial_of(primary.port)
    for name, kind in IP4_NAMES.items():
        expect_same(primary, secondary, name, kind)
    for name, kind in IP6_NAMES.items():
        expect_same(primary, secondary, name, kind)
    # a TXT with "$" from a wildcard names the block, not the address
    expect_same(primary, secondary, "5.2.0.192", "wildcard",
        '"Open relay 192.0.2.0/24 - see https://bl.test/lookup?ip=192.0.2.0/24"')
    expect_same(primary, secondary, "20.100.51.198", "wildcard", '"Range 198.51.100.0/24"')
    # the apex: SOA and NS
    for rtype in ("SOA", "NS"):
        ours = data_of(dig(primary.port, ZONE, rtype)[1], rtype)
        theirs = data_of(dig(secondary.port, ZONE, rtype)[1], rtype)
        assert ours == theirs and ours, (rtype, ours, theirs)
    assert "event=xfr_done client=127.0.0.2 zone=relays.bl.test" in primary.read_log()


def test_notify_makes_nsd_fetch_the_change_by_ixfr(pair):
    primary, secondary = pair
    before = serial_of(primary.port)
    changed = IP4_DATA.replace("203.0.113.9 :5:\n", "") + \
        "203.0.113.50 :6:Fresh $\n!192.0.2.100\n"
    time.sleep(1.1)      # a new second: the file time is the serial
    write_file(os.path.join(primary.directory, "relays.txt"), changed)
    deadline = time.monotonic() + SYNC_TIMEOUT
    after = before
    while after == before and time.monotonic() < deadline:
        time.sleep(0.1)
        after = serial_of(primary.port)
    assert after != before, primary.read_log()
    secondary.wait_serial(after)
    log = primary.read_log()
    assert "event=notify_answered zone=relays.bl.test serial=%d" % after in log, log
    assert "kind=IXFR serial=%d client_serial=%d" % (after, before) in log, log
    for name, kind in (("50.113.0.203", "explicit"), ("9.113.0.203", "unlisted"),
            ("100.2.0.192", "excluded"), ("101.2.0.192", "wildcard"),
            ("77.2.0.192", "excluded"), ("2.0.0.127", "explicit")):
        expect_same(primary, secondary, name, kind)
    assert data_of(dig(secondary.port, "50.113.0.203." + ZONE, "TXT")[1], "TXT") == \
        ['"Fresh 203.0.113.50"']


def test_axfr_from_an_address_not_allowed_is_refused(pair):
    primary, _ = pair
    # the ACL allows 127.0.0.2 only: the same loopback host from 127.0.0.1 is refused
    assert raw_axfr_rcode(primary.port, CLIENT_REFUSED) == 5
    assert raw_axfr_rcode(primary.port, CLIENT_ALLOWED) == 0
    status, _ = dig(primary.port, ZONE, "AXFR", "+comments", source=CLIENT_REFUSED)
    assert status == "REFUSED"
    assert 'event=xfr_refused client=127.0.0.1 reason="not in xfr_allow"' in \
        primary.read_log()


def test_dig_axfr_and_ixfr_from_the_allowed_address(pair):
    primary, _ = pair
    result = subprocess.run(["dig", "@127.0.0.1", "-p", str(primary.port), "-b",
        CLIENT_ALLOWED, ZONE, "AXFR", "+nocookie"], capture_output=True, text=True,
        timeout=DIG_TIMEOUT)
    lines = [line.split(None, 4) for line in result.stdout.splitlines()
        if line and not line.startswith(";")]
    assert lines[0][3] == "SOA" and lines[-1][3] == "SOA"
    owners = {(fields[0], fields[3]) for fields in lines}
    assert ("*.2.0.192.%s." % ZONE, "A") in owners
    assert ("77.2.0.192.%s." % ZONE, "CNAME") in owners
    assert ("2.0.0.127.%s." % ZONE, "TXT") in owners
    # IXFR from the current serial: just the SOA (RFC 1995 2)
    serial = serial_of(primary.port)
    result = subprocess.run(["dig", "@127.0.0.1", "-p", str(primary.port), "-b",
        CLIENT_ALLOWED, ZONE, "IXFR=%d" % serial, "+nocookie"], capture_output=True,
        text=True, timeout=DIG_TIMEOUT)
    records = [line for line in result.stdout.splitlines() if line and not line.startswith(";")]
    assert len(records) == 1 and " SOA " in records[0].replace("\t", " "), result.stdout
    # over UDP a transfer is never served, even to the allowed address
    assert raw_udp_axfr_rcode(primary.port, CLIENT_ALLOWED) == 5
