# test_smtpd_relay_proof.py - the proof that relayguard smtpd is not an open relay (issue 4 items
# 2 and 8): relayguard check and nmap against every listener, relay_clients, a real Postfix as the
# next hop, a shield in front of open relays, and hostile input beyond test_smtpd_protocol.py.
"""Every server here is the real binary ($RELAYGUARD smtpd -f) on free ports of 127.0.0.1 with
three listeners (plain SMTP with STARTTLS, submission, smtps), one local domain example.org
(users file: user@example.org, postmaster@example.org), relay domain relay.example.net and a
next hop that each test chooses (by default a closed loopback port, so relayed mail stays
queued).  Clients bind source addresses in 127.0.0.0/8 to look like different hosts.

Battery placeholders as in DESIGN.md: s = relayguard, u = relaytest, V = relay-victim.example.net,
H = mx.example.org (banner), T = example.org (H without its first label), I = [127.0.0.1].

`relayguard check --implicit-tls` proves the smtps listener closed like the others; the
battery is also sent by hand with smtplib.SMTP_SSL, as a second, independent client.
"""

import json
import os
import pwd
import re
import resource
import selectors
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree

import pytest

from conftest import (VICTIM, check_sanitizers, fake_address, fake_target, free_port,
    only_target)

HOSTNAME = "mx.example.org"
LOCAL_DOMAIN = "example.org"
RELAY_DOMAIN = "relay.example.net"
USER = "user@example.org"
PASSWORD = "correct horse battery"
STRANGER = "stranger@example.com"
READY_TIMEOUT = 20
REPLY_TIMEOUT = 10
CHECK_TIMEOUT = 300
DELIVERY_TIMEOUT = 30
MEGABYTE = 1024 * 1024
AUTHORISED_CLIENT = "127.0.0.5"
STRANGER_CLIENT = "127.0.0.6"
SLOW_CLIENT = "127.0.0.7"
IDLE_CONNECTIONS = 2000
IDLE_SOURCES = ["127.0.0.%d" % n for n in range(20, 30)]
# check's probe forms (DESIGN.md "The battery"), every id of the battery.
BATTERY_IDS = ["S%02d" % n for n in range(1, 10)] + ["R%02d" % n for n in range(1, 16)] + \
    ["R17", "N01", "N02", "N03", "N04", "N05", "X02", "X03"]
S, U, V, H, T, I = "relayguard", "relaytest", VICTIM, HOSTNAME, LOCAL_DOMAIN, "[127.0.0.1]"
BATTERY_FORMS = [
    ("S01", "<>", "<%s@%s>" % (U, V)),
    ("S02", "<%s@%s>" % (S, V), "<%s@%s>" % (U, V)),
    ("S03", "<%s@rand.%s>" % (S, V), "<%s@%s>" % (U, V)),
    ("S04", "<%s@%s>" % (S, H), "<%s@%s>" % (U, V)),
    ("S05", "<%s@%s>" % (S, T), "<%s@%s>" % (U, V)),
    ("S06", "<%s@%s>" % (S, I), "<%s@%s>" % (U, V)),
    ("S07", "<%s@localhost>" % S, "<%s@%s>" % (U, V)),
    ("S08", "<%s>" % S, "<%s@%s>" % (U, V)),
    ("S09", "<postmaster@%s>" % H, "<%s@%s>" % (U, V)),
    ("R01", "<%s@%s>" % (S, I), "<%s%%%s@%s>" % (U, V, I)),
    ("R02", "<%s@%s>" % (S, H), "<%s%%%s@%s>" % (U, V, H)),
    ("R03", "<%s@%s>" % (S, H), '<"%s@%s">' % (U, V)),
    ("R04", "<%s@%s>" % (S, H), '<"%s%%%s">' % (U, V)),
    ("R05", "<%s@%s>" % (S, I), "<%s@%s@%s>" % (U, V, I)),
    ("R06", "<%s@%s>" % (S, I), '<"%s@%s"@%s>' % (U, V, I)),
    ("R07", "<%s@%s>" % (S, H), "<%s@%s@%s>" % (U, V, H)),
    ("R08", "<%s@%s>" % (S, T), '<"%s@%s"@%s>' % (U, V, T)),
    ("R09", "<%s@%s>" % (S, H), '<"%s@%s@%s">' % (U, V, H)),
    ("R10", "<%s@%s>" % (S, I), "<@%s:%s@%s>" % (I, U, V)),
    ("R11", "<%s@%s>" % (S, H), "<@%s:%s@%s>" % (H, U, V)),
    ("R12", "<%s@%s>" % (S, H), "<%s!%s>" % (V, U)),
    ("R13", "<%s@%s>" % (S, I), "<%s!%s@%s>" % (V, U, I)),
    ("R14", "<%s@%s>" % (S, H), "<%s!%s@%s>" % (V, U, H)),
    ("R15", "<%s@%s>" % (S, H), "<%s@%s@>" % (U, V)),
    ("R17", "<%s@%s>" % (S, T), "<IMCEASMTP-%s+40%s@%s>" % (U, V, T)),
    ("N01", "<%s@%s>" % (S, H), "<%s@[192.0.2.1]>" % U),
    ("N02", "<%s@%s>" % (S, H), "<%s@[IPv6:2001:db8::1]>" % U),
    ("N03", "<%s@%s>" % (S, H), "<%s@%s>" % (U, V.upper())),
    ("N04", "<%s@%s>" % (S, H), "<%s@%s.>" % (U, V)),
    ("N05", "<%s@%s>" % (S, H), "<%s>" % U),
]


class Server:
    """`relayguard smtpd -f`: plain, submission and smtps listeners, its files under root."""

    def __init__(self, binary, root, tls_files, extra=()):
        self.binary = binary
        self.root = root
        ports = set()
        while len(ports) < 3:
            ports.add(free_port())
        self.port, self.submission_port, self.smtps_port = sorted(ports)
        self.queue = root / "queue"
        self.maildir = root / "mail"
        self.log = root / "smtpd.log"
        self.users = root / "users"
        self.tls_files = tls_files
        self.extra = list(extra)
        self.process = None
        (self.maildir / LOCAL_DOMAIN / "user").mkdir(parents=True, exist_ok=True)
        digest = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True,
            capture_output=True, text=True, timeout=30).stdout.strip()
        self.users.write_text("%s:%s\npostmaster@%s\n" % (USER, digest, LOCAL_DOMAIN))

    def options(self):
        cert, key = self.tls_files
        values = {
            "listen": "127.0.0.1:%d submission=127.0.0.1:%d smtps=127.0.0.1:%d" % (
                self.port, self.submission_port, self.smtps_port),
            "hostname": HOSTNAME,
            "local_domains": LOCAL_DOMAIN,
            "relay_domains": RELAY_DOMAIN,
            "next_hop": "smtp:127.0.0.1:%d" % free_port(),
            "users": str(self.users),
            "maildir": str(self.maildir),
            "queue_dir": str(self.queue),
            "tls_cert": cert,
            "tls_key": key,
            "workers": "2",
        }
        if os.geteuid() == 0:
            values["user"] = "root"
        for item in self.extra:
            key_name, _, value = item.partition("=")
            values[key_name] = value
        args = []
        for key_name, value in values.items():
            args += ["-o", "%s=%s" % (key_name, value)]
        return args

    def start(self):
        self.log_file = open(self.log, "a")
        self.process = subprocess.Popen([self.binary, "smtpd", "-f", *self.options()],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail("relayguard smtpd exited:\n" + self.log_text()[-3000:])
            if "event=started" in self.log_text():
                return
            time.sleep(0.05)
        pytest.fail("relayguard smtpd did not start in time:\n" + self.log_text()[-3000:])

    def stop(self):
        """SIGTERM, a clean exit (status 0), no sanitizer report."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail("relayguard smtpd ignored SIGTERM:\n" + self.log_text()[-3000:])
        self.process = None
        self.log_file.close()
        check_sanitizers(self.log_text())
        assert status == 0, self.log_text()[-3000:]

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def queued_ids(self):
        """queued_ids - queue ids of every message this server ever accepted."""
        return re.findall(r"queue_id=(\S+) event=queued", self.log_text())

    def queue_files(self):
        names = []
        for area in ("incoming", "active", "deferred"):
            path = self.queue / area
            names += os.listdir(path) if path.exists() else []
        return names

    def mailbox(self, local="user"):
        new = self.maildir / LOCAL_DOMAIN / local / "new"
        return [(new / name).read_bytes() for name in sorted(os.listdir(new))] \
            if new.exists() else []


@pytest.fixture
def server_factory(relayguard, tmp_path, tls_files):
    started = []

    def make(extra=(), name="smtpd"):
        server = Server(relayguard, tmp_path / name, tls_files, extra)
        server.start()
        started.append(server)
        return server
    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory):
    return server_factory()


def tls_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Raw:
    """A raw client: exact bytes out, whole replies in."""

    def __init__(self, port, source="127.0.0.1", wait_banner=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT,
            source_address=(source, 0))
        self.buffer = b""
        self.banner = self.reply() if wait_banner else None

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buffer[:200])
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode("latin-1")

    def reply(self):
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def command(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1") + b"\r\n"
        self.send(data)
        return self.reply()

    def start_data(self, sender="<sender@example.net>", recipient="<%s>" % USER):
        assert self.command("HELO client.example.net").startswith("250")
        assert self.command("MAIL FROM:%s" % sender).startswith("250")
        assert self.command("RCPT TO:%s" % recipient).startswith("250")
        assert self.command("DATA").startswith("354")

    def close(self):
        self.sock.close()


def wait_for(condition, timeout=DELIVERY_TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail("timed out waiting for %s" % what)


def check(relayguard, *args, timeout=CHECK_TIMEOUT):
    """check - `relayguard check --json` (DNS only to a closed loopback port); the one object."""
    result = subprocess.run([relayguard, "check", "--json", "-q", "--helo",
        "checker.example.net", "--timeout", "5", "--dns", "127.0.0.1:%d" % free_port(), *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        errors="replace")
    check_sanitizers(result.stderr)
    objects = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(objects) == 1, result.stdout[-3000:] + result.stderr[-3000:]
    return result.returncode, objects[0]


def assert_closed_on_every_id(result):
    """assert_closed_on_every_id - verdict closed, no trick, every battery id refused."""
    assert result["verdict"] == "closed", (result["verdict"], result["reason"])
    assert result["tricks"] == []
    assert sorted(test["id"] for test in result["tests"]) == sorted(BATTERY_IDS)
    outcomes = {test["id"]: test["outcome"] for test in result["tests"]}
    assert set(outcomes.values()) <= {"refused", "not-applicable"}, outcomes
    # X03 needs a refused MAIL; everything else must have been tried and refused.
    assert all(outcome == "refused" for test_id, outcome in outcomes.items()
        if test_id != "X03"), outcomes


# ---------------------------------------------------------------- relayguard check, every listener


def test_check_at_data_depth_finds_the_plain_listener_closed(relayguard, server):
    code, result = check(relayguard, "--depth", "data", "--no-starttls",
        "127.0.0.1:%d" % server.port)
    assert_closed_on_every_id(result)
    assert result["tls"] is None
    assert code == 0
    assert server.queued_ids() == []


def test_check_at_data_depth_finds_the_plain_listener_closed_under_starttls(relayguard, server):
    code, result = check(relayguard, "--depth", "data", "127.0.0.1:%d" % server.port)
    assert_closed_on_every_id(result)
    assert result["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    # AUTH is offered under TLS; X02's bogus credentials must not open anything.
    x02 = next(test for test in result["tests"] if test["id"] == "X02")
    assert [reply["code"] for reply in x02["replies"]][:1] == [535]
    assert code == 0
    assert server.queued_ids() == []


def test_check_finds_the_submission_listener_closed_for_lack_of_auth(relayguard, server):
    """Submission requires AUTH before MAIL (530): every probe of the unauthenticated
    stranger is refused, so the listener is closed."""
    code, result = check(relayguard, "--depth", "data", "127.0.0.1:%d" % server.submission_port)
    assert result["verdict"] == "closed", result["reason"]
    assert result["tricks"] == []
    refusals = {test["error"] for test in result["tests"] if test["outcome"] == "refused"}
    assert any("530" in (error or "") for error in refusals)
    assert not any(test["outcome"] in ("accepted", "data-accepted", "delivered")
        for test in result["tests"])
    assert code == 0
    assert server.queued_ids() == []


def test_check_finds_the_smtps_listener_closed_over_implicit_tls(relayguard, server):
    """check --implicit-tls does the TLS handshake before the banner (RFC 8314), then the
    whole battery: the smtps listener is closed on every id."""
    code, result = check(relayguard, "--depth", "data", "--implicit-tls",
        "127.0.0.1:%d" % server.smtps_port)
    assert_closed_on_every_id(result)
    assert result["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert code == 0
    assert server.queued_ids() == []


def test_check_without_implicit_tls_waits_in_vain_on_the_smtps_listener(relayguard, server):
    """Without --implicit-tls (and not on port 465) check expects a plain banner."""
    code, result = check(relayguard, "--depth", "data", "--greeting-timeout", "3",
        "127.0.0.1:%d" % server.smtps_port)
    assert result["verdict"] == "inconclusive"
    assert "banner" in result["reason"]
    assert result["tricks"] == []
    assert code == 0


def smtps_client(port):
    client = smtplib.SMTP_SSL("127.0.0.1", port, timeout=REPLY_TIMEOUT, context=tls_context())
    client.ehlo("checker.example.net")
    return client


def test_smtps_listener_refuses_every_battery_form(server):
    """The battery by hand over implicit TLS, as `check` would send it; a 421 after too many
    errors is followed by a new connection, as check does."""
    client = smtps_client(server.smtps_port)
    refused = {}
    for test_id, sender, recipient in BATTERY_FORMS:
        for _ in range(3):
            try:
                codes = [client.rset()[0], client.docmd("MAIL", "FROM:" + sender)[0]]
                if codes[-1] < 400:
                    codes.append(client.docmd("RCPT", "TO:" + recipient)[0])
            except smtplib.SMTPServerDisconnected:
                codes = [421]
            if 421 in codes:
                client.close()
                client = smtps_client(server.smtps_port)
                continue
            refused[test_id] = ("MAIL" if len(codes) == 2 else "RCPT", codes[-1])
            break
    client.close()
    assert sorted(refused) == sorted(form[0] for form in BATTERY_FORMS)
    for test_id, (command, code) in refused.items():
        assert 500 <= code < 600, (test_id, command, code)
    # X02: bogus AUTH, then a relay attempt.
    client = smtps_client(server.smtps_port)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        client.login("relaytest", "relayguard-bogus-password")
    client.mail("relayguard@%s" % VICTIM)
    assert client.rcpt("relaytest@%s" % VICTIM)[0] == 554
    code, _ = client.docmd("DATA")
    assert code == 554
    client.close()
    assert server.queued_ids() == []


def test_check_with_confirm_proves_nothing_is_delivered(relayguard, server_factory):
    """--confirm: check's receiver is also smtpd's next hop, so anything relayed would arrive
    there and be counted; nothing does."""
    receiver_port = free_port()
    smtpd = server_factory(["next_hop=smtp:127.0.0.1:%d" % receiver_port])
    code, result = check(relayguard, "--confirm", "--probe-domain", "probe.relayguard.test",
        "--receiver", "127.0.0.1:%d" % receiver_port, "--confirm-wait", "5",
        "127.0.0.1:%d" % smtpd.port)
    assert_closed_on_every_id(result)
    assert code == 0
    assert smtpd.queued_ids() == []
    assert "event=delivered" not in smtpd.log_text()


# ---------------------------------------------------------------- a shield in front of open relays


def test_smtpd_shields_the_open_fake_relay(relayguard, server_factory, run_check, confirm_args,
        fake_smtp):
    """Issue 4: the old MTA relays for anyone; behind relayguard smtpd nobody can reach it."""
    open_relay = fake_address("open")
    smtpd = server_factory(["relay_domains=open.test",
        "next_hop=smtp:%s:2525" % open_relay])
    _, objects, _ = run_check("--depth", "data", *confirm_args(5), fake_target("open"))
    direct = only_target(objects)
    assert direct["verdict"] == "open"
    assert direct["stage"] == "delivered"
    _, objects, _ = run_check("--depth", "data", *confirm_args(5),
        "127.0.0.1:%d" % smtpd.port)
    assert_closed_on_every_id(only_target(objects))
    assert smtpd.queued_ids() == []
    # Mail for the shielded MTA's own domain still gets through to it.
    before = sum(1 for e in fake_smtp.events()
        if e.get("event") == "message" and e.get("listener") == "%s:2525" % open_relay)
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT) as client:
        assert client.sendmail("sender@example.net", ["postmaster@open.test"],
            "Subject: through the shield\r\n\r\nhello\r\n") == {}
    wait_for(lambda: sum(1 for e in fake_smtp.events() if e.get("event") == "message" and
        e.get("listener") == "%s:2525" % open_relay) == before + 1,
        what="the message at the shielded MTA")


# ---------------------------------------------------------------- nmap smtp-open-relay


def test_nmap_smtp_open_relay_says_not_an_open_relay(tmp_path, server_factory):
    """nmap's script runs 16 tests on one connection; with max_errors below 16 the server ends
    that session with 421 and the script reports only "connection closed". The default (20,
    Postfix's smtpd_hard_error_limit) lets it finish: this test uses the default."""
    if shutil.which("nmap") is None:
        pytest.skip("nmap is not installed (scripts/install-deps.sh installs it)")
    smtpd = server_factory([])
    datadir = tmp_path / "nmap-data"
    datadir.mkdir()
    (datadir / "nmap-services").write_text("smtp\t%d/tcp\t0.5\t# relayguard smtpd\n" % smtpd.port)
    result = subprocess.run(["nmap", "-Pn", "-n", "-sT", "-p", str(smtpd.port), "--datadir",
        str(datadir), "--script", "smtp-open-relay", "--script-args",
        "smtp-open-relay.domain=%s,smtp-open-relay.ip=127.0.0.1" % VICTIM, "-oX", "-",
        "127.0.0.1"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    scripts = ElementTree.fromstring(result.stdout).findall(
        ".//port/script[@id='smtp-open-relay']")
    assert len(scripts) == 1, result.stdout
    assert scripts[0].get("output").startswith("Server doesn't seem to be an open relay")
    assert smtpd.queued_ids() == []


# ---------------------------------------------------------------- relay_clients and AUTH


class Sink:
    """A next hop on 127.0.0.1 that records every message it accepts (envelope and data)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        reader = conn.makefile("rb")
        try:
            conn.sendall(b"220 sink.example.net ESMTP\r\n")
            envelope = []
            for raw in reader:
                verb = raw[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 sink.example.net\r\n")
                elif verb in (b"MAIL", b"RCPT"):
                    envelope.append(raw.rstrip(b"\r\n").decode("latin-1"))
                    conn.sendall(b"250 2.0.0 ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    data = []
                    for line in reader:
                        if line == b".\r\n":
                            break
                        data.append(line)
                    with self.lock:
                        self.messages.append((envelope, b"".join(data)))
                    envelope = []
                    conn.sendall(b"250 2.0.0 ok\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.0.0 ok\r\n")
        except OSError:
            return
        finally:
            conn.close()

    def received(self):
        with self.lock:
            return list(self.messages)

    def close(self):
        self.listener.close()


@pytest.fixture
def sink():
    next_hop = Sink()
    yield next_hop
    next_hop.close()


def swaks(port, source, recipient, *extra):
    return subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--local-interface",
        source, "--from", "sender@example.net", "--to", recipient, "--helo",
        "client.example.net", *extra], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)


def test_relay_client_relays_to_the_next_hop_and_a_stranger_cannot(server_factory, sink):
    smtpd = server_factory(["relay_clients=%s/32" % AUTHORISED_CLIENT,
        "next_hop=smtp:127.0.0.1:%d" % sink.port])
    allowed = swaks(smtpd.port, AUTHORISED_CLIENT, STRANGER, "--header", "X-Test: allowed")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert re.search(r"<[-~]  250 2\.0\.0 Ok: queued as \S+", allowed.stdout)
    refused = swaks(smtpd.port, STRANGER_CLIENT, STRANGER, "--header", "X-Test: refused")
    assert refused.returncode != 0
    assert "<** 554 5.7.1" in refused.stdout
    wait_for(lambda: len(sink.received()) == 1, what="the authorised client's message")
    envelope, data = sink.received()[0]
    assert "RCPT TO:<%s>" % STRANGER in envelope
    assert b"X-Test: allowed" in data
    assert re.search(rb"Received: from client\.example\.net \([^)]*\[127\.0\.0\.5\]\)", data)
    time.sleep(0.5)
    assert len(sink.received()) == 1


def test_stranger_relays_only_after_auth_on_smtps(server_factory, sink):
    smtpd = server_factory(["next_hop=smtp:127.0.0.1:%d" % sink.port])
    client = smtplib.SMTP_SSL("127.0.0.1", smtpd.smtps_port, timeout=REPLY_TIMEOUT,
        context=tls_context(), source_address=(STRANGER_CLIENT, 0))
    client.ehlo("client.example.net")
    client.mail(USER)
    assert client.rcpt(STRANGER)[0] == 554
    client.rset()
    client.login(USER, PASSWORD)
    assert client.sendmail(USER, [STRANGER], "Subject: authenticated\r\n\r\nhello\r\n") == {}
    client.quit()
    wait_for(lambda: len(sink.received()) == 1, what="the authenticated message")
    assert b"with ESMTPSA id " in sink.received()[0][1]


# ---------------------------------------------------------------- a real Postfix as the next hop


POSTFIX_MAIN_CF = """\
# A throw-away "legacy" Postfix behind relayguard smtpd: it trusts its whole network
# (mynetworks = 127.0.0.0/8), so on its own it relays for any loopback client; it delivers
# {domain} into one Maildir and everything else to a loopback sink that stands for the rest
# of the world (default_transport), never to any other address.
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
meta_directory = /etc/postfix
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
myhostname = legacy.example.net
mydomain = example.net
myorigin = example.net
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
relay_domains =
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
default_transport = smtp:[127.0.0.1]:{world_port}
relayhost =
smtp_bind_address = 127.0.0.1
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_client_connection_count_limit = 0
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
"""

POSTFIX_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A throw-away Postfix instance (`postfix -c DIR start`), its files in a directory of its
    own under /var/tmp (its daemons run as user postfix, so the directory must be open to it)."""

    def __init__(self, world_port):
        self.root = tempfile.mkdtemp(prefix="relayguard-postfix-", dir="/var/tmp")
        os.chmod(self.root, 0o755)
        self.config = os.path.join(self.root, "etc")
        self.port = free_port()
        self.started = False
        for sub in ("etc", "spool", "data", "mail"):
            os.makedirs(os.path.join(self.root, sub))
        shutil.chown(os.path.join(self.root, "data"), user="postfix")
        # Postfix's virtual agent writes the Maildir as nobody.
        entry = pwd.getpwnam("nobody")
        os.chown(os.path.join(self.root, "mail"), entry.pw_uid, entry.pw_gid)
        values = {"root": self.root, "domain": RELAY_DOMAIN, "port": self.port,
            "uid": entry.pw_uid, "gid": entry.pw_gid, "world_port": world_port}
        with open(os.path.join(self.config, "main.cf"), "w") as out:
            out.write(POSTFIX_MAIN_CF.format(**values))
        with open(os.path.join(self.config, "master.cf"), "w") as out:
            out.write(POSTFIX_MASTER_CF.format(**values))

    def postfix(self, action):
        # Postfix's scripts print why they failed only to a terminal: run them under script(1).
        return subprocess.run(["script", "-qec", "postfix -c %s %s" % (self.config, action),
            "/dev/null"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def start(self):
        for action in ("check", "start"):
            result = self.postfix(action)
            if result.returncode != 0:
                pytest.fail("postfix %s failed: %s" % (action, result.stdout + result.stderr))
        self.started = True
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                    if sock.recv(256).startswith(b"220"):
                        return
            except OSError:
                time.sleep(0.1)
        pytest.fail("the test Postfix does not answer on port %d" % self.port)

    def stop(self):
        if self.started:
            self.postfix("stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def inbox(self):
        new = os.path.join(self.root, "mail", "inbox", "new")
        if not os.path.isdir(new):
            return []
        messages = []
        for name in sorted(os.listdir(new)):
            with open(os.path.join(new, name), "rb") as stream:
                messages.append(stream.read())
        return messages


@pytest.fixture(scope="module")
def postfix_next_hop():
    if os.geteuid() != 0:
        pytest.skip("a throw-away Postfix instance needs root")
    if shutil.which("postfix") is None:
        pytest.skip("Postfix is not installed (scripts/install-deps.sh installs it)")
    world = Sink()
    instance = Postfix(world.port)
    instance.world = world
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        world.close()


def test_real_postfix_next_hop_receives_the_relay_domain_mail(server_factory, postfix_next_hop):
    smtpd = server_factory(["next_hop=smtp:127.0.0.1:%d" % postfix_next_hop.port])
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT) as client:
        client.ehlo("client.example.net")
        assert client.sendmail("sender@example.net", ["someone@%s" % RELAY_DOMAIN],
            "Subject: via relayguard to Postfix\r\nX-Test: postfix-next-hop\r\n\r\nhello\r\n") == {}
        client.mail("sender@example.net")
        assert client.rcpt(STRANGER)[0] == 554
    wait_for(lambda: any(b"X-Test: postfix-next-hop" in m for m in postfix_next_hop.inbox()),
        what="the message in Postfix's Maildir")
    message = next(m for m in postfix_next_hop.inbox() if b"X-Test: postfix-next-hop" in m)
    received = re.findall(rb"^Received: .*(?:\n\s.*)*", message, re.MULTILINE)
    assert len(received) >= 2
    assert b"by legacy.example.net (Postfix)" in received[0]
    assert b"by %s" % HOSTNAME.encode() in received[1]
    wait_for(lambda: smtpd.queue_files() == [], what="an empty relayguard queue")


def test_real_postfix_open_to_its_network_is_closed_behind_smtpd(relayguard, server_factory,
        postfix_next_hop):
    """The legacy Postfix relays for every loopback client (mynetworks = 127.0.0.0/8), so check
    run from loopback calls it open; in front of it, relayguard smtpd is closed."""
    world = postfix_next_hop.world
    smtpd = server_factory(["next_hop=smtp:127.0.0.1:%d" % postfix_next_hop.port])
    _, direct = check(relayguard, "--depth", "data", "--tests", "S02,S04",
        "127.0.0.1:%d" % postfix_next_hop.port)
    assert direct["verdict"] == "open", direct["reason"]
    assert set(direct["tricks"]) == {"S02", "S04"}
    wait_for(lambda: len(world.received()) >= 2, what="Postfix relaying the probes")
    relayed = len(world.received())
    code, shielded = check(relayguard, "--depth", "data", "127.0.0.1:%d" % smtpd.port)
    assert_closed_on_every_id(shielded)
    assert code == 0
    assert smtpd.queued_ids() == []
    time.sleep(1)
    assert len(world.received()) == relayed


# ---------------------------------------------------------------- hostile input
# test_smtpd_protocol.py already covers: a 1 MB HELO answered 500 with the session going on,
# NUL in HELO, bare LF in data, one LF.LF smuggling form, out-of-order commands, error limit,
# silent clients, early talkers, connections per client.


def test_megabyte_lines_in_every_state_leave_the_server_serving(server):
    client = Raw(server.port)
    assert client.command(b"HELO " + b"h" * MEGABYTE + b"\r\n") == \
        "500 5.5.6 Error: line too long"
    assert client.command("HELO client.example.net") == "250 " + HOSTNAME
    assert client.command(b"MAIL FROM:<" + b"a" * MEGABYTE + b"@example.net>\r\n") == \
        "500 5.5.6 Error: line too long"
    assert client.command("MAIL FROM:<sender@example.net>") == "250 2.1.0 Ok"
    assert client.command(b"RCPT TO:<" + b"u" * MEGABYTE + b"@example.org>\r\n") == \
        "500 5.5.6 Error: line too long"
    assert client.command("RCPT TO:<%s>" % USER).startswith("250 ")
    assert client.command("DATA").startswith("354")
    client.send(b"Subject: long line\r\n\r\n" + b"x" * MEGABYTE + b"\r\n.\r\n")
    assert client.reply().startswith("554 5.6.0 Error: message line longer than 1000 octets")
    assert client.command("NOOP") == "250 2.0.0 Ok"
    client.close()
    # A megabyte with no line end at all, then a hang-up.
    garbage = Raw(server.port)
    garbage.send(b"\xff" * MEGABYTE)
    garbage.close()
    after = Raw(server.port)
    assert after.banner.startswith("220 " + HOSTNAME)
    assert after.command("NOOP") == "250 2.0.0 Ok"
    after.close()
    assert server.alive()
    assert server.queued_ids() == []


def test_nul_bytes_in_addresses_and_data_are_refused(server):
    client = Raw(server.port)
    client.command("HELO client.example.net")
    assert client.command(b"MAIL FROM:<a\x00b@example.net>\r\n").startswith("500 5.5.2")
    assert client.command("MAIL FROM:<sender@example.net>") == "250 2.1.0 Ok"
    assert client.command(b"RCPT TO:<user\x00@example.org>\r\n").startswith("500 5.5.2")
    assert client.command(b"RCPT TO:<user@example.org>\x00\r\n").startswith("500 5.5.2")
    assert client.command("RCPT TO:<%s>" % USER).startswith("250 ")
    assert client.command("DATA").startswith("354")
    client.send(b"Subject: nul\r\n\r\nbefore\x00after\r\n.\r\n")
    assert client.reply() == "554 5.6.0 Error: NUL byte in message data"
    assert client.command("NOOP") == "250 2.0.0 Ok"
    client.close()
    assert server.queued_ids() == []


@pytest.mark.parametrize("smuggled", [b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r",
    b"\r\n.\rRSET\r\n", b"\n.\n"], ids=["CRLF.LF", "LF.CRLF", "CR.CRLF", "CRLF.CR",
    "CRLF.CR-command", "LF.LF"])
def test_smuggled_end_of_data_forms_neither_end_the_data_nor_queue_anything(server, smuggled):
    """SMTP smuggling: only CRLF.CRLF ends DATA; a second transaction hidden behind another
    form stays message text, and the whole message is refused for its bare CR or LF."""
    client = Raw(server.port)
    client.start_data()
    client.send(b"Subject: smuggle\r\n\r\nhello" + smuggled +
        b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n" % STRANGER.encode())
    client.sock.settimeout(1)
    with pytest.raises(socket.timeout):
        client.reply()
    client.sock.settimeout(REPLY_TIMEOUT)
    client.send(b"\r\n.\r\n")
    assert client.reply().startswith("554 5.5.2 Error: bare <LF> or <CR>")
    assert client.command("NOOP") == "250 2.0.0 Ok"
    client.close()
    time.sleep(0.3)
    assert server.queued_ids() == []
    assert server.mailbox() == []


def test_a_hundred_pipelined_commands_get_a_hundred_replies_in_order(server):
    client = Raw(server.port)
    client.command("EHLO client.example.net")
    commands, expected = [], []
    for n in range(33):
        commands += [b"MAIL FROM:<s%d@example.net>\r\n" % n, b"RCPT TO:<%s>\r\n" % USER.encode(),
            b"RSET\r\n"]
        expected += ["250 2.1.0 Ok", "250 2.1.5", "250 2.0.0 Ok"]
    commands.append(b"NOOP\r\n")
    expected.append("250 2.0.0 Ok")
    assert len(commands) == 100
    client.send(b"".join(commands))
    replies = [client.reply() for _ in commands]
    for got, want in zip(replies, expected):
        assert got.startswith(want), (got, want)
    # And one pipelined transaction: MAIL, 98 RCPT, DATA, the message, QUIT.
    client.send(b"MAIL FROM:<sender@example.net>\r\n" +
        b"RCPT TO:<%s>\r\n" % USER.encode() * 98 + b"DATA\r\n")
    replies = [client.reply() for _ in range(100)]
    assert replies[0] == "250 2.1.0 Ok"
    assert all(reply.startswith("250 2.1.5") for reply in replies[1:99])
    assert replies[99].startswith("354")
    client.send(b"Subject: pipelined\r\n\r\nhello\r\n.\r\nQUIT\r\n")
    assert client.reply().startswith("250 2.0.0 Ok: queued as ")
    assert client.reply() == "221 2.0.0 Bye"
    client.close()
    wait_for(lambda: len(server.mailbox()) == 1, what="the pipelined message")


def test_slowloris_does_not_hold_up_other_clients_and_a_stalled_line_times_out(server_factory):
    server = server_factory(["command_timeout=2s"])
    slow = Raw(server.port, source=SLOW_CLIENT)
    trickled = threading.Event()

    def trickle():
        for byte in b"HELO slow.example.net\r\n":
            slow.send(bytes([byte]))
            time.sleep(0.1)
        trickled.set()
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", server.port, timeout=REPLY_TIMEOUT) as client:
        assert client.sendmail("sender@example.net", [USER],
            "Subject: beside a slowloris\r\n\r\nhello\r\n") == {}
    assert time.monotonic() - started < 1.5
    assert not trickled.is_set()
    thread.join(timeout=10)
    assert slow.reply() == "250 " + HOSTNAME
    # Half a command, then silence: the read timeout ends the session.
    slow.send(b"MAIL FROM:<slow@exam")
    stalled = time.monotonic()
    assert slow.reply().startswith("421 4.4.2")
    assert 1.5 < time.monotonic() - stalled < 6
    slow.close()
    wait_for(lambda: len(server.mailbox()) == 1, what="the message sent beside the slowloris")


def test_two_thousand_idle_connections_then_a_delivery_works(server_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < IDLE_CONNECTIONS + 256:
        pytest.skip("RLIMIT_NOFILE hard limit %d is too low" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    per_source = IDLE_CONNECTIONS // len(IDLE_SOURCES)
    server = server_factory(["max_connections=%d" % (IDLE_CONNECTIONS + 100),
        "max_connections_per_client=%d" % (per_source + 10)])
    selector = selectors.DefaultSelector()
    sockets, banners = [], {}
    try:
        for index in range(IDLE_CONNECTIONS):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.bind((IDLE_SOURCES[index // per_source], 0))
            sock.connect_ex(("127.0.0.1", server.port))
            sockets.append(sock)
            banners[sock] = b""
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + 60
        held = 0
        while held < IDLE_CONNECTIONS and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=1):
                chunk = key.fileobj.recv(4096)
                assert chunk, "the server closed an idle connection"
                banners[key.fileobj] += chunk
                if banners[key.fileobj].endswith(b"\r\n"):
                    selector.unregister(key.fileobj)
                    held += 1
        assert held == IDLE_CONNECTIONS
        assert all(banner.startswith(b"220 " + HOSTNAME.encode()) for banner in banners.values())
        with smtplib.SMTP("127.0.0.1", server.port, timeout=REPLY_TIMEOUT) as client:
            assert client.sendmail("sender@example.net", [USER],
                "Subject: beside 2000 idle sessions\r\n\r\nhello\r\n") == {}
        wait_for(lambda: len(server.mailbox()) == 1, what="the message beside idle sessions")
    finally:
        selector.close()
        for sock in sockets:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
