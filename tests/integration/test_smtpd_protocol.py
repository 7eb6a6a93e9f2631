# test_smtpd_protocol.py - `relayguard smtpd` spoken to by real clients (swaks, smtplib, raw
# sockets): plain, STARTTLS, AUTH, pipelining, smtps, submission, hostile input, limits, DNSBL.
"""Every server here is the real binary ($RELAYGUARD smtpd -f) on free ports of 127.0.0.1 with
its queue and Maildir in the test's temporary directory; DNS goes only to a fake_dns.py of the
test's own on 127.0.0.1 (loopback clients are never looked up in reverse).

Listeners of a server: SMTP (port), submission (submission_port) and smtps (smtps_port), one
local domain example.org with the users file below, relay domain relay.example.net, and a next
hop on a closed loopback port (relay mail stays queued: these tests are about the protocol;
test_smtpd_queue.py is about delivery).
"""

import json
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time

import pytest

from conftest import FAKES, check_sanitizers, free_port, stop, wait_ready

HOSTNAME = "mx.example.org"
LOCAL_DOMAIN = "example.org"
RELAY_DOMAIN = "relay.example.net"
USER = "user@example.org"
PASSWORD = "correct horse battery"
STRANGER = "victim@example.com"
READY_TIMEOUT = 20
REPLY_TIMEOUT = 10
DNSBL_ZONE = "bl.test"
DNSBL_REASON = "listed for open relaying, see https://bl.example.net/q?127.0.0.2"
LISTED_CLIENT = "127.0.0.2"
MEGABYTE = 1024 * 1024


class Smtpd:
    """One `relayguard smtpd -f` with three listeners and its files under root."""

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
        self.extra = list(extra)
        self.tls_files = tls_files
        self.process = None
        root.mkdir(parents=True, exist_ok=True)
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
        args = []
        for key_name, value in values.items():
            args += ["-o", "%s=%s" % (key_name, value)]
        for item in self.extra:
            args += ["-o", item]
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

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def mailbox(self, local="user"):
        new = self.maildir / LOCAL_DOMAIN / local / "new"
        return [(new / name).read_bytes() for name in sorted(os.listdir(new))] \
            if new.exists() else []


@pytest.fixture
def smtpd_factory(relayguard, tmp_path, tls_files):
    started = []

    def make(extra=(), name="smtpd"):
        server = Smtpd(relayguard, tmp_path / name, tls_files, extra)
        server.start()
        started.append(server)
        return server
    yield make
    for server in started:
        server.stop()


@pytest.fixture
def smtpd(smtpd_factory):
    return smtpd_factory()


def tls_context():
    """tls_context - a client context that accepts the test's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Raw:
    """A raw client: send exact bytes, read whole replies."""

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
                raise EOFError("connection closed; buffered %r" % self.buffer)
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode("latin-1")

    def reply(self):
        """reply - one whole (possibly multi-line) reply as text lines joined by \\n."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def command(self, text):
        self.send(text.encode("latin-1") + b"\r\n")
        return self.reply()

    def closed(self):
        """closed - true when the server has closed the connection (after any buffered bytes)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buffer += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def message(subject="protocol test"):
    return ("From: sender@example.net\r\nTo: %s\r\nSubject: %s\r\n\r\nhello\r\n"
        ".leading dot\r\n" % (USER, subject))


def wait_for(condition, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail("timed out waiting for %s" % what)


# ---------------------------------------------------------------- plain SMTP


def test_plain_message_for_a_local_user_is_accepted_and_delivered(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT) as client:
        code, features = client.ehlo("client.example.net")
        assert code == 250
        for keyword in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "starttls"):
            assert client.has_extn(keyword), features
        assert not client.has_extn("auth")
        assert client.sendmail("sender@example.net", [USER], message()) == {}
    wait_for(lambda: len(smtpd.mailbox()) == 1, what="the Maildir copy")
    mail = smtpd.mailbox()[0]
    assert b"Received: from client.example.net (localhost [127.0.0.1])" in mail
    assert b"with ESMTP id " in mail
    assert b"\n.leading dot\n" in mail


def test_relay_to_a_stranger_is_denied(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT) as client:
        client.ehlo("client.example.net")
        client.mail("sender@example.net")
        code, text = client.rcpt(STRANGER)
        assert code == 554
        assert text.startswith(b"5.7.1 ")
        for trick in ("u%victim.example.com@example.org", "@example.org:u@victim.example.com",
                "victim.example.com!u@example.org", "u@[192.0.2.1]", "u@VICTIM.EXAMPLE.COM."):
            code, text = client.rcpt(trick)
            assert code in (553, 554), (trick, code, text)


def test_swaks_delivers_a_plain_message(smtpd):
    result = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % smtpd.port,
        "--from", "sender@example.net", "--to", USER, "--helo", "swaks.example.net",
        "--header", "Subject: swaks plain"], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"<[-~]  250 2\.0\.0 Ok: queued as \S+", result.stdout), result.stdout
    wait_for(lambda: len(smtpd.mailbox()) == 1, what="the swaks message")


def test_swaks_relay_attempt_is_refused(smtpd):
    result = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % smtpd.port,
        "--from", "sender@example.net", "--to", STRANGER], capture_output=True, text=True,
        timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    assert "<** 554 5.7.1" in result.stdout


# ---------------------------------------------------------------- STARTTLS, smtps, AUTH


def test_starttls_then_a_message_is_marked_esmtps(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT) as client:
        client.ehlo("client.example.net")
        code, _ = client.starttls(context=tls_context())
        assert code == 220
        client.ehlo("client.example.net")
        assert not client.has_extn("starttls")
        assert client.has_extn("auth")
        assert client.sendmail("sender@example.net", [USER], message()) == {}
    wait_for(lambda: len(smtpd.mailbox()) == 1, what="the Maildir copy")
    assert re.search(rb"with ESMTPS id \S+\n\t\(using TLSv1\.[23] with cipher ",
        smtpd.mailbox()[0])


def test_auth_plain_after_starttls_lets_the_user_relay(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT) as client:
        client.starttls(context=tls_context())
        client.ehlo("client.example.net")
        client.user, client.password = USER, PASSWORD
        code, text = client.auth("PLAIN", client.auth_plain)
        assert code == 235, text
        assert client.sendmail(USER, [STRANGER], message()) == {}
    assert re.search(r"event=auth session=\S+ client=127\.0\.0\.1 user=user@example\.org",
        smtpd.log_text())


def test_auth_login_with_smtplib(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT) as client:
        client.starttls(context=tls_context())
        client.ehlo("client.example.net")
        client.user, client.password = USER, PASSWORD
        code, text = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        assert code == 235, text
        assert client.sendmail(USER, [STRANGER], message()) == {}


def test_auth_login_with_swaks(smtpd):
    # swaks needs Net::SSLeay (Debian libnet-ssleay-perl) for --tls
    result = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % smtpd.port, "--tls",
        "--auth", "LOGIN", "--auth-user", USER, "--auth-password", PASSWORD,
        "--from", USER, "--to", STRANGER], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)
    if "TLS not available" in result.stderr:
        pytest.skip("swaks has no TLS here: install libnet-ssleay-perl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0 Authentication successful" in result.stdout
    assert re.search(r"<[-~]  250 2\.0\.0 Ok: queued as ", result.stdout)


def test_wrong_password_is_535_and_relay_stays_closed(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT) as client:
        client.starttls(context=tls_context())
        client.ehlo("client.example.net")
        with pytest.raises(smtplib.SMTPAuthenticationError) as error:
            client.login(USER, "wrong password")
        assert error.value.smtp_code == 535
        client.mail(USER)
        code, _ = client.rcpt(STRANGER)
        assert code == 554


def test_auth_is_refused_without_tls(smtpd):
    client = Raw(smtpd.port)
    features = client.command("EHLO client.example.net")
    assert "AUTH" not in features
    assert client.command("AUTH PLAIN AHVzZXJAZXhhbXBsZS5vcmcAeA==").startswith("538 5.7.11")
    client.close()


def test_submission_port_requires_auth_before_mail(smtpd):
    with smtplib.SMTP("127.0.0.1", smtpd.submission_port, timeout=REPLY_TIMEOUT) as client:
        client.ehlo("client.example.net")
        code, text = client.mail(USER)
        assert code == 530 and text.startswith(b"5.7.0"), text
        client.starttls(context=tls_context())
        client.ehlo("client.example.net")
        client.login(USER, PASSWORD)
        assert client.sendmail(USER, [USER], message("submission")) == {}
    wait_for(lambda: len(smtpd.mailbox()) == 1, what="the submitted message")
    assert b"with ESMTPSA id " in smtpd.mailbox()[0]


def test_smtps_port_speaks_tls_from_the_first_byte(smtpd):
    with smtplib.SMTP_SSL("127.0.0.1", smtpd.smtps_port, timeout=REPLY_TIMEOUT,
            context=tls_context()) as client:
        code, _ = client.ehlo("client.example.net")
        assert code == 250
        assert client.has_extn("auth")
        assert not client.has_extn("starttls")
        client.login(USER, PASSWORD)
        assert client.sendmail(USER, [USER], message("smtps")) == {}
    wait_for(lambda: len(smtpd.mailbox()) == 1, what="the smtps message")


def test_plaintext_pipelined_after_starttls_is_discarded(smtpd):
    """The STARTTLS command injection: bytes sent with STARTTLS must not run under TLS."""
    client = Raw(smtpd.port)
    client.command("EHLO client.example.net")
    client.send(b"STARTTLS\r\nVRFY injected@example.org\r\n")
    assert client.reply().startswith("220 2.0.0")
    assert client.buffer == b""
    tls = tls_context().wrap_socket(client.sock, server_hostname=HOSTNAME)
    client.sock = tls
    assert client.command("NOOP") == "250 2.0.0 Ok"
    assert client.command("EHLO client.example.net").startswith("250-" + HOSTNAME)
    assert client.command("QUIT") == "221 2.0.0 Bye"
    client.close()
    assert "event=starttls_plaintext_dropped" in smtpd.log_text()


# ---------------------------------------------------------------- protocol details


def test_pipelined_commands_are_answered_in_order(smtpd):
    client = Raw(smtpd.port)
    client.command("EHLO client.example.net")
    client.send(b"MAIL FROM:<sender@example.net>\r\nRCPT TO:<victim@example.com>\r\n"
        b"RCPT TO:<user@example.org>\r\nDATA\r\n")
    assert client.reply() == "250 2.1.0 Ok"
    assert client.reply().startswith("554 5.7.1 <victim@example.com>")
    assert client.reply().startswith("250 2.1.5")
    assert client.reply().startswith("354 ")
    client.send(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n")
    assert client.reply().startswith("250 2.0.0 Ok: queued as ")
    assert client.reply() == "250 2.0.0 Ok"
    assert client.reply() == "221 2.0.0 Bye"
    assert client.closed()


def test_vrfy_discloses_nothing_and_expn_is_refused(smtpd):
    client = Raw(smtpd.port)
    known = client.command("VRFY user@example.org")
    unknown = client.command("VRFY nobody-here@example.org")
    assert known.startswith("252 ") and known == unknown
    assert client.command("EXPN staff").startswith("502 5.5.1")
    client.close()


def test_commands_out_of_order_get_503(smtpd):
    client = Raw(smtpd.port)
    assert client.command("MAIL FROM:<a@example.net>").startswith("503 5.5.1")
    client.command("HELO client.example.net")
    assert client.command("RCPT TO:<user@example.org>").startswith("503 5.5.1")
    assert client.command("DATA").startswith("503 5.5.1")
    assert client.command("MAIL FROM:<a@example.net>") == "250 2.1.0 Ok"
    assert client.command("MAIL FROM:<a@example.net>").startswith("503 5.5.1")
    assert client.command("DATA").startswith("554 5.5.1")
    client.close()


def test_megabyte_helo_gets_500_and_the_session_goes_on(smtpd):
    client = Raw(smtpd.port)
    client.send(b"HELO " + b"a" * MEGABYTE + b"\r\n")
    assert client.reply() == "500 5.5.6 Error: line too long"
    assert client.command("HELO client.example.net") == "250 " + HOSTNAME
    client.close()


def test_nul_bytes_in_a_command_get_500(smtpd):
    client = Raw(smtpd.port)
    client.send(b"HELO a\x00b\r\n")
    assert client.reply().startswith("500 5.5.2")
    assert client.command("NOOP") == "250 2.0.0 Ok"
    client.close()


def test_bare_lf_in_data_is_refused(smtpd):
    client = Raw(smtpd.port)
    client.command("HELO client.example.net")
    client.command("MAIL FROM:<a@example.net>")
    client.command("RCPT TO:<user@example.org>")
    assert client.command("DATA").startswith("354")
    client.send(b"Subject: bare\n\nline\r\n.\r\n")
    assert client.reply().startswith("554 5.5.2")
    client.close()


def test_smuggled_lf_dot_lf_does_not_end_the_data(smtpd):
    """SMTP smuggling: only CRLF.CRLF ends DATA; the smuggled MAIL is message text."""
    client = Raw(smtpd.port)
    client.command("HELO client.example.net")
    client.command("MAIL FROM:<a@example.net>")
    client.command("RCPT TO:<user@example.org>")
    assert client.command("DATA").startswith("354")
    client.send(b"Subject: smuggle\r\n\r\nhello\r\n\n.\nMAIL FROM:<evil@example.net>\r\n"
        b"RCPT TO:<victim@example.com>\r\nDATA\r\n")
    client.sock.settimeout(1)
    with pytest.raises(socket.timeout):
        client.reply()
    client.sock.settimeout(REPLY_TIMEOUT)
    client.send(b".\r\n")
    assert client.reply().startswith("554 5.5.2")
    assert client.command("NOOP") == "250 2.0.0 Ok"
    client.close()
    time.sleep(0.5)
    assert smtpd.mailbox() == []


def test_message_size_limit(smtpd_factory):
    server = smtpd_factory(["message_size_limit=64k"])
    client = Raw(server.port)
    client.command("EHLO client.example.net")
    assert client.command("MAIL FROM:<a@example.net> SIZE=100000").startswith("552 5.3.4")
    assert client.command("MAIL FROM:<a@example.net> SIZE=1000") == "250 2.1.0 Ok"
    client.command("RCPT TO:<user@example.org>")
    assert client.command("DATA").startswith("354")
    client.send((b"x" * 998 + b"\r\n") * 70 + b".\r\n")
    assert client.reply().startswith("552 5.3.4")
    client.close()


def test_too_many_errors_end_the_session(smtpd_factory):
    server = smtpd_factory(["max_errors=3"])
    client = Raw(server.port)
    for _ in range(2):
        assert client.command("FOO").startswith("500 5.5.2")
    assert client.command("FOO").startswith("500 5.5.2")
    assert client.reply().startswith("421 4.7.0")
    assert client.closed()


# ---------------------------------------------------------------- timing and limits


def test_silent_client_times_out_with_421(smtpd_factory):
    server = smtpd_factory(["command_timeout=1s"])
    client = Raw(server.port)
    started = time.monotonic()
    assert client.reply().startswith("421 4.4.2")
    assert 0.5 < time.monotonic() - started < 5
    assert client.closed()


def test_client_talking_before_the_banner_is_refused(smtpd_factory):
    server = smtpd_factory(["greeting_delay=1s"])
    early = Raw(server.port, wait_banner=False)
    early.send(b"EHLO early.example.net\r\n")
    assert early.reply().startswith("554 5.5.0")
    assert early.closed()
    patient = Raw(server.port)
    assert patient.banner.startswith("220 " + HOSTNAME)
    patient.close()
    assert "event=early_talker" in server.log_text()


def test_connections_per_client_are_limited(smtpd_factory):
    server = smtpd_factory(["max_connections_per_client=2"])
    first, second = Raw(server.port), Raw(server.port)
    third = Raw(server.port, wait_banner=False)
    assert third.reply().startswith("421 4.7.0")
    assert third.closed()
    other = Raw(server.port, source="127.0.0.3")
    assert other.banner.startswith("220 ")
    for client in (first, second, other):
        client.close()
    # a slot frees up when a session ends
    wait_for(lambda: server.log_text().count("event=disconnect") >= 3, what="the disconnects")
    again = Raw(server.port)
    assert again.banner.startswith("220 ")
    again.close()


# ---------------------------------------------------------------- DNSBL


@pytest.fixture
def dnsbl_dns(tmp_path):
    """dnsbl_dns - "127.0.0.1:PORT" of a fake DNS server holding one DNSBL listing."""
    zone = {"zones": [DNSBL_ZONE], "ttl": 60, "records": {
        "2.0.0.127." + DNSBL_ZONE: {"A": ["127.0.0.2"], "TXT": [DNSBL_REASON]}}}
    zone_path = tmp_path / "dnsbl-zone.json"
    zone_path.write_text(json.dumps(zone))
    process = subprocess.Popen([sys.executable or "/usr/bin/python3",
        str(FAKES / "fake_dns.py"), "--zone", str(zone_path), "--address", "127.0.0.1",
        "--port", "0", "--log", str(tmp_path / "dnsbl-queries.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = wait_ready(process, "fake_dns.py")
    yield "127.0.0.1:%s" % ready.split()[1], tmp_path / "dnsbl-queries.jsonl"
    stop(process)


def test_dnsbl_listed_client_is_refused_with_the_txt_reason(smtpd_factory, dnsbl_dns):
    server_address, query_log = dnsbl_dns
    # one worker: the DNSBL cache is per worker loop
    server = smtpd_factory(["dnsbl=%s" % DNSBL_ZONE, "dns_server=%s" % server_address,
        "workers=1"])
    listed = Raw(server.port, source=LISTED_CLIENT)
    listed.command("HELO listed.example.net")
    listed.command("MAIL FROM:<a@example.net>")
    reply = listed.command("RCPT TO:<user@example.org>")
    assert reply == ("554 5.7.1 Service unavailable; client [%s] blocked using %s; %s" % (
        LISTED_CLIENT, DNSBL_ZONE, DNSBL_REASON))
    listed.close()
    clean = Raw(server.port, source="127.0.0.1")
    clean.command("HELO clean.example.net")
    clean.command("MAIL FROM:<a@example.net>")
    assert clean.command("RCPT TO:<user@example.org>").startswith("250 ")
    clean.close()
    # a second listed session is answered from the cache: no new query
    queries = len(query_log.read_text().splitlines())
    again = Raw(server.port, source=LISTED_CLIENT)
    again.command("HELO listed.example.net")
    again.command("MAIL FROM:<a@example.net>")
    assert again.command("RCPT TO:<user@example.org>").startswith("554 5.7.1")
    again.close()
    assert len(query_log.read_text().splitlines()) == queries
    assert "event=dnsbl_listed" in server.log_text()


def test_dnsbl_failure_lets_clients_in_by_default(smtpd_factory):
    dead_dns = "127.0.0.1:%d" % free_port()
    server = smtpd_factory(["dnsbl=%s" % DNSBL_ZONE, "dns_server=%s" % dead_dns])
    client = Raw(server.port, source=LISTED_CLIENT)
    client.command("HELO client.example.net")
    client.command("MAIL FROM:<a@example.net>")
    assert client.command("RCPT TO:<user@example.org>").startswith("250 ")
    client.close()


# ---------------------------------------------------------------- relayguard check


def test_relayguard_check_finds_every_listener_closed(relayguard, smtpd):
    """Issue 4 point 2: the project's own checker runs every battery id; the SMTP port is
    closed, the submission port (530 before AUTH) is closed too, never open."""
    for port, verdicts in ((smtpd.port, ("closed",)),
            (smtpd.submission_port, ("closed",))):
        result = subprocess.run([relayguard, "check", "--json", "-q", "--helo",
            "checker.example.net", "--timeout", "5", "--dns", "127.0.0.1:%d" % free_port(),
            "127.0.0.1:%d" % port], capture_output=True, text=True, timeout=300,
            stdin=subprocess.DEVNULL)
        check_sanitizers(result.stderr)
        objects = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        assert len(objects) == 1, result.stdout + result.stderr
        assert objects[0]["verdict"] in verdicts, objects[0]
        assert objects[0]["tricks"] == []
        assert len(objects[0]["tests"]) >= 25


# ---------------------------------------------------------------- start-up and stop


def test_open_relay_configuration_is_refused_at_start(relayguard, tmp_path, tls_files):
    server = Smtpd(relayguard, tmp_path / "refused", tls_files, ["relay_clients=0.0.0.0/0"])
    result = subprocess.run([relayguard, "smtpd", "-f", *server.options()],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    check_sanitizers(result.stderr)
    assert result.returncode == 1
    assert "relay_clients" in result.stderr
    assert "refusing to start" in result.stderr
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_usage_errors_exit_2(relayguard):
    result = subprocess.run([relayguard, "smtpd", "--no-such-option"], capture_output=True,
        text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "usage: relayguard smtpd" in result.stderr


def test_sigterm_answers_idle_sessions_421_and_exits_cleanly(smtpd_factory):
    server = smtpd_factory()
    idle = Raw(server.port)
    idle.command("HELO client.example.net")
    server.stop()
    assert idle.reply().startswith("421 4.3.2")
    assert "event=stopped status=0" in server.log_text()


def test_sighup_is_logged_and_ignored(smtpd_factory):
    server = smtpd_factory()
    server.process.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload not supported yet" in server.log_text(), what="the SIGHUP line")
    client = Raw(server.port)
    assert client.command("NOOP") == "250 2.0.0 Ok"
    client.close()
