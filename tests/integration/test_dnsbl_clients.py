# test_dnsbl_clients.py - real DNSBL clients asking `relayguard dnsbl` (issue 5 item 2, issue 4
# item 4): relayguard smtpd on 127.0.0.1, and a real Postfix smtpd inside a private namespace.
"""Two kinds of client look up connecting addresses in zones served by the real
`relayguard dnsbl` ($RELAYGUARD):

relayguard smtpd
    `dnsbl = relays.bl.test*2, other.bl.test`, `dns_server` = the dnsbl server on a free
    port of 127.0.0.1.  SMTP clients (smtplib) bind their source address in 127.0.0.0/8:

        address       relays.bl.test (weight 2)    other.bl.test (weight 1)
        127.0.0.66    listed, own TXT              -
        127.0.0.67    -                            -
        127.0.0.68    -                            listed
        127.0.0.70    listed                       listed

    Answers have a $TTL and an SOA minimum of CACHE_TTL seconds, so that the smtpd's cache
    can be seen expiring within one test.

Postfix smtpd (`reject_rbl_client relays.bl.test`)
    Postfix asks the system resolver (/etc/resolv.conf, port 53).  The test runs this file as
    a script under `unshare -mn` (a new mount and network namespace, root only): loopback is
    brought up, a resolv.conf naming 127.0.0.1 is bind-mounted over /etc/resolv.conf in that
    namespace only, relayguard dnsbl answers on 127.0.0.1:53 and a throw-away Postfix instance
    (its own config, queue and data directories) listens on 127.0.0.1:POSTFIX_PORT.  The script
    prints one JSON object; the namespace has no interface but loopback, so nothing leaves it.
"""

import json
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import check_sanitizers
from test_dnsbl_server import Server, data_directory, free_port, udp_ask, write_file
from test_smtpd_protocol import USER, Smtpd

ZONE = "relays.bl.test"
OTHER_ZONE = "other.bl.test"
LISTED = "127.0.0.66"
UNLISTED = "127.0.0.67"
OTHER_ONLY = "127.0.0.68"
BOTH = "127.0.0.70"
TEST_POINT = "127.0.0.2"
CACHE_TTL = 5
REPLY_TIMEOUT = 10
WAIT_TIMEOUT = 15
SENDER = "sender@example.net"
STRANGER = "victim@example.com"


def relays_txt(address):
    return "open relay: see https://bl.example.org/%s" % address


def other_txt(address):
    return "listed by %s for %s" % (OTHER_ZONE, address)


def zone_head(zone):
    """zone_head - $SOA (minimum CACHE_TTL: negative answers) and $TTL (positive answers)."""
    return ("$SOA %d ns1.%s. hostmaster.example.org. 0 600 300 86400 %d\n$TTL %d\n" % (
        CACHE_TTL, zone, CACHE_TTL, CACHE_TTL))


RELAYS_DATA = (zone_head(ZONE) + ":127.0.0.2:open relay: see https://bl.example.org/$\n"
    + "%s\n%s\n%s\n" % (TEST_POINT, LISTED, BOTH))
RELAYS_DELISTED = (zone_head(ZONE) + ":127.0.0.2:open relay: see https://bl.example.org/$\n"
    + "%s\n%s\n" % (TEST_POINT, BOTH))
OTHER_DATA = (zone_head(OTHER_ZONE) + ":127.0.0.3:listed by %s for $\n" % OTHER_ZONE
    + "%s\n%s\n" % (OTHER_ONLY, BOTH))


def dnsbl_name(address, zone):
    return ".".join(reversed(address.split("."))) + "." + zone


def blocked_reply(address, zone, txt):
    """blocked_reply - relayguard smtpd's RCPT reply text (after the code) for a listing."""
    return "5.7.1 Service unavailable; client [%s] blocked using %s; %s" % (address, zone, txt)


# ---------------------------------------------------------------- servers


def start_dnsbl(relayguard):
    """start_dnsbl - relayguard dnsbl serving both zones on a free port of 127.0.0.1."""
    directory = data_directory()
    relays = os.path.join(directory, "relays.txt")
    other = os.path.join(directory, "other.txt")
    write_file(relays, RELAYS_DATA)
    write_file(other, OTHER_DATA)
    port = free_port()
    return Server(relayguard, directory, port, ["-f", "--listen", "127.0.0.1:%d" % port,
        "--zone", "%s:ip4set:%s" % (ZONE, relays), "--zone", "%s:ip4set:%s" % (OTHER_ZONE,
        other), "--control", os.path.join(directory, "control.sock"), "-c", "1",
        "--workers", "2"])


def stop_dnsbl(server):
    code, log = server.stop()
    shutil.rmtree(server.directory, ignore_errors=True)
    assert code == 0, log


@pytest.fixture(scope="module")
def dnsbl(relayguard):
    """dnsbl - one relayguard dnsbl for the tests that do not change its data."""
    server = start_dnsbl(relayguard)
    yield server
    stop_dnsbl(server)


@pytest.fixture
def own_dnsbl(relayguard):
    """own_dnsbl - a relayguard dnsbl of the test's own, whose data the test may change."""
    server = start_dnsbl(relayguard)
    yield server
    stop_dnsbl(server)


@pytest.fixture
def smtpd_with_dnsbl(relayguard, tmp_path, tls_files):
    """smtpd_with_dnsbl(dnsbl, threshold) - relayguard smtpd asking dnsbl about every client.

    One worker: the DNSBL cache is per worker loop, so cache behaviour is deterministic."""
    started = []

    def make(server, threshold=None):
        extra = ["dnsbl=%s*2, %s" % (ZONE, OTHER_ZONE),
            "dns_server=127.0.0.1:%d" % server.port, "workers=1"]
        if threshold is not None:
            extra.append("dnsbl_threshold=%d" % threshold)
        smtpd = Smtpd(relayguard, tmp_path / ("smtpd%d" % len(started)), tls_files, extra)
        smtpd.start()
        started.append(smtpd)
        return smtpd
    yield make
    for smtpd in started:
        smtpd.stop()


def rcpt_from(port, source, recipient=USER):
    """rcpt_from - (code, text) of RCPT TO:<recipient> in a session from source (bound)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=REPLY_TIMEOUT,
            source_address=(source, 0)) as client:
        code, _ = client.ehlo("client.example.net")
        assert code == 250
        code, text = client.mail(SENDER)
        assert code == 250, text
        code, text = client.rcpt(recipient)
        return code, text.decode("utf-8", "replace")


def dig_short(server, address, zone, rtype="A"):
    """dig_short - dig +short of an address's DNSBL name: what the server itself answers."""
    reply = server.dig(dnsbl_name(address, zone), rtype)
    return reply.status, reply.data(rtype)


def a_queries(server):
    """a_queries - how many A queries the dnsbl server has answered so far."""
    metrics = server.control_command("metrics")
    match = re.search(r'^relayguard_dnsbl_queries_by_type_total\{qtype="A"\} (\d+)$', metrics,
        re.M)
    assert match, metrics
    return int(match.group(1))


# ---------------------------------------------------------------- relayguard smtpd


def test_smtpd_refuses_a_client_listed_by_relayguard_dnsbl_with_its_txt(dnsbl,
        smtpd_with_dnsbl):
    smtpd = smtpd_with_dnsbl(dnsbl)
    code, text = rcpt_from(smtpd.port, LISTED)
    assert code == 554
    assert text == blocked_reply(LISTED, ZONE, relays_txt(LISTED))
    log = smtpd.log_text()
    assert "event=dnsbl_listed" in log and "zone=%s score=2" % ZONE in log, log[-3000:]


def test_smtpd_accepts_a_client_relayguard_dnsbl_does_not_list(dnsbl, smtpd_with_dnsbl):
    assert dig_short(dnsbl, UNLISTED, ZONE) == ("NXDOMAIN", [])
    smtpd = smtpd_with_dnsbl(dnsbl)
    with smtplib.SMTP("127.0.0.1", smtpd.port, timeout=REPLY_TIMEOUT,
            source_address=(UNLISTED, 0)) as client:
        client.ehlo("client.example.net")
        client.mail(SENDER)
        code, text = client.rcpt(USER)
        assert code == 250, text
        code, text = client.data(b"Subject: not listed\r\n\r\nhello\r\n")
        assert code == 250, text
    assert "event=dnsbl_listed" not in smtpd.log_text()
    # the smtpd really asked: the dnsbl counted NXDOMAIN answers for both zones
    metrics = dnsbl.control_command("metrics")
    for zone in (ZONE, OTHER_ZONE):
        assert 'relayguard_dnsbl_queries_total{zone="%s",rcode="NXDOMAIN"}' % zone in metrics


def test_delisted_client_is_accepted_once_the_cached_answer_expires(own_dnsbl,
        smtpd_with_dnsbl):
    smtpd = smtpd_with_dnsbl(own_dnsbl)
    looked_up = time.monotonic()
    code, text = rcpt_from(smtpd.port, LISTED)
    assert code == 554, text
    write_file(os.path.join(own_dnsbl.directory, "relays.txt"), RELAYS_DELISTED)
    own_dnsbl.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + WAIT_TIMEOUT
    while udp_ask(own_dnsbl.port, dnsbl_name(LISTED, ZONE)) != (3, 0):
        assert time.monotonic() < deadline, "relayguard dnsbl did not delist " + LISTED
        time.sleep(0.05)
    assert dig_short(own_dnsbl, BOTH, ZONE) == ("NOERROR", ["127.0.0.2"])
    cached = time.monotonic() - looked_up < CACHE_TTL - 2
    if cached:
        # still inside the answer's TTL (the reload was quick): the cache answers, no query
        queries = a_queries(own_dnsbl)
        code, text = rcpt_from(smtpd.port, LISTED)
        assert code == 554, "the cached listing was not used: %d %s" % (code, text)
        assert a_queries(own_dnsbl) == queries
    time.sleep(max(0.0, looked_up + CACHE_TTL + 1 - time.monotonic()))
    code, text = rcpt_from(smtpd.port, LISTED)
    assert code == 250, text
    assert smtpd.log_text().count("event=dnsbl_listed") == (2 if cached else 1)


def test_listing_only_in_a_weight_one_zone_stays_below_threshold_two(dnsbl, smtpd_with_dnsbl):
    assert dig_short(dnsbl, OTHER_ONLY, OTHER_ZONE) == ("NOERROR", ["127.0.0.3"])
    assert dig_short(dnsbl, OTHER_ONLY, ZONE) == ("NXDOMAIN", [])
    smtpd = smtpd_with_dnsbl(dnsbl, threshold=2)
    code, text = rcpt_from(smtpd.port, OTHER_ONLY)
    assert code == 250, text
    # the weight-2 zone alone reaches the threshold
    code, text = rcpt_from(smtpd.port, LISTED)
    assert code == 554
    assert text == blocked_reply(LISTED, ZONE, relays_txt(LISTED))


def test_listing_in_a_weight_one_zone_is_enough_with_threshold_one(dnsbl, smtpd_with_dnsbl):
    smtpd = smtpd_with_dnsbl(dnsbl, threshold=1)
    code, text = rcpt_from(smtpd.port, OTHER_ONLY)
    assert code == 554
    assert text == blocked_reply(OTHER_ONLY, OTHER_ZONE, other_txt(OTHER_ONLY))


def test_weights_of_both_zones_add_up_to_threshold_three(dnsbl, smtpd_with_dnsbl):
    smtpd = smtpd_with_dnsbl(dnsbl, threshold=3)
    code, text = rcpt_from(smtpd.port, LISTED)
    assert code == 250, text
    code, text = rcpt_from(smtpd.port, BOTH)
    assert code == 554
    # the reply names the heaviest listing zone and its TXT
    assert text == blocked_reply(BOTH, ZONE, relays_txt(BOTH))
    assert "zone=%s score=3" % ZONE in smtpd.log_text()


# ---------------------------------------------------------------- Postfix in a namespace

POSTFIX_PORT = 10025
POSTFIX_DOMAIN = "example.test"
POSTFIX_RECIPIENT = "user@" + POSTFIX_DOMAIN
POSTFIX_TIMEOUT = 60
NAMESPACE_COMMAND = "postfix-namespace"

POSTFIX_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.{domain}
mydomain = {domain}
myorigin = {domain}
mydestination = {domain}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
relayhost =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:
smtpd_client_restrictions = reject_rbl_client {zone}
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_tls_security_level = none
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
"""

POSTFIX_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
smtp      unix  - - n - - smtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class NamespaceError(Exception):
    pass


def postfix_rbl_reply(address, txt):
    """postfix_rbl_reply - Postfix's default rbl reply text (after the code) for a listing."""
    return "5.7.1 Service unavailable; Client host [%s] blocked using %s; %s" % (
        address, ZONE, txt)


def ns_wait(condition, what, timeout=WAIT_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise NamespaceError("timed out waiting for " + what)


def ns_port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def ns_session(source, recipients, data=None):
    """ns_session - the replies of one SMTP session from source to the namespace's Postfix:
    {"banner", "rcpt": [[code, text], ...], "data": [code, text] or None}."""
    result = {"source": source, "rcpt": [], "data": None}
    with smtplib.SMTP(timeout=REPLY_TIMEOUT, source_address=(source, 0)) as client:
        code, banner = client.connect("127.0.0.1", POSTFIX_PORT)
        result["banner"] = [code, banner.decode("utf-8", "replace")]
        client.ehlo("client.example.net")
        code, text = client.mail(SENDER)
        result["mail"] = [code, text.decode("utf-8", "replace")]
        accepted = 0
        for recipient in recipients:
            code, text = client.rcpt(recipient)
            result["rcpt"].append([code, text.decode("utf-8", "replace")])
            accepted += code == 250
        if data is not None and accepted:
            code, text = client.data(data)
            result["data"] = [code, text.decode("utf-8", "replace")]
    return result


def ns_control(path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(REPLY_TIMEOUT)
        client.connect(path)
        client.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def ns_read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return stream.read()
    except OSError:
        return ""


def ns_record_pid(root, name, pid):
    """ns_record_pid - note a process started in the namespace, so that the test can end it
    by its id if this script is killed before it stops it."""
    path = os.path.join(root, "pids.json")
    pids = json.loads(ns_read(path) or "{}")
    pids[name] = pid
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(pids, stream)


def ns_postfix_master_pid(root):
    text = ns_read(os.path.join(root, "queue", "pid", "master.pid")).strip()
    return int(text) if text.isdigit() else None


def ns_pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def ns_setup_network(root):
    """ns_setup_network - refuse to run outside a fresh network namespace; loopback up; our
    resolv.conf over /etc/resolv.conf (this mount namespace only)."""
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        raise NamespaceError("not in a private network namespace: interfaces %r" % interfaces)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    resolv = os.path.join(root, "resolv.conf")
    with open(resolv, "w", encoding="utf-8") as stream:
        stream.write("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n")
    os.chmod(resolv, 0o644)
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True, timeout=10)


def ns_start_dnsbl(relayguard, root, log):
    data = os.path.join(root, "relays.txt")
    write_file(data, RELAYS_DATA)
    control = os.path.join(root, "dnsbl.sock")
    process = subprocess.Popen([relayguard, "dnsbl", "-f", "--listen", "127.0.0.1:53",
        "--zone", "%s:ip4set:%s" % (ZONE, data), "--control", control, "--workers", "1"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    ns_record_pid(root, "dnsbl", process.pid)
    ns_wait(lambda: process.poll() is not None or udp_ask(53, ZONE, 6, timeout=0.2)
        is not None, "relayguard dnsbl on 127.0.0.1:53")
    if process.poll() is not None:
        raise NamespaceError("relayguard dnsbl exited with %s" % process.returncode)
    return process, control


def ns_start_postfix(root, log):
    config = os.path.join(root, "postfix")
    os.makedirs(config, mode=0o755)
    # the queue belongs to root (Postfix makes its subdirectories), the data to mail_owner
    os.makedirs(os.path.join(root, "queue"), mode=0o755)
    data = os.path.join(root, "data")
    os.makedirs(data, mode=0o700)
    owner = pwd.getpwnam("postfix")
    os.chown(data, owner.pw_uid, owner.pw_gid)
    values = {"root": root, "domain": POSTFIX_DOMAIN, "zone": ZONE, "port": POSTFIX_PORT}
    for name, template in (("main.cf", POSTFIX_MAIN_CF), ("master.cf", POSTFIX_MASTER_CF)):
        with open(os.path.join(config, name), "w", encoding="utf-8") as stream:
            stream.write(template.format(**values))
    started = subprocess.run(["postfix", "-c", config, "start"], stdin=subprocess.DEVNULL,
        stdout=log, stderr=subprocess.STDOUT, timeout=WAIT_TIMEOUT)
    pid = ns_postfix_master_pid(root)
    if pid is not None:
        ns_record_pid(root, "postfix_master", pid)
    if started.returncode != 0:
        raise NamespaceError("postfix start exited with %d" % started.returncode)
    ns_wait(lambda: ns_port_open(POSTFIX_PORT), "Postfix on 127.0.0.1:%d" % POSTFIX_PORT)
    return config


def ns_stop_postfix(root, config, log):
    """ns_stop_postfix - `postfix stop`, then wait for the master to be gone; True when it is."""
    pid = ns_postfix_master_pid(root)
    subprocess.run(["postfix", "-c", config, "stop"], stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, timeout=WAIT_TIMEOUT)
    if pid is None:
        return True
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline and ns_pid_alive(pid):
        time.sleep(0.1)
    if ns_pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
        return False
    return True


def namespace_main(relayguard, root):
    """namespace_main - the Postfix scenario, run inside `unshare -mn`; returns the result."""
    result = {"errors": []}
    log = open(os.path.join(root, "commands.log"), "a", encoding="utf-8")
    dnsbl = config = None
    try:
        ns_setup_network(root)
        dnsbl, control = ns_start_dnsbl(relayguard, root, log)
        # the system resolver of this namespace reaches relayguard dnsbl
        try:
            result["getaddrinfo"] = sorted({info[4][0] for info in socket.getaddrinfo(
                dnsbl_name(LISTED, ZONE), None, socket.AF_INET)})
        except socket.gaierror as error:
            result["getaddrinfo"] = str(error)
        config = ns_start_postfix(root, log)
        result["listed"] = ns_session(LISTED, [POSTFIX_RECIPIENT])
        result["test_point"] = ns_session(TEST_POINT, [POSTFIX_RECIPIENT])
        result["unlisted"] = ns_session(UNLISTED, [STRANGER, POSTFIX_RECIPIENT],
            data=b"Subject: not listed\r\n\r\nhello\r\n")
        result["metrics"] = ns_control(control, "metrics")
    except (NamespaceError, OSError, subprocess.SubprocessError, smtplib.SMTPException) as error:
        result["errors"].append("%s: %s" % (type(error).__name__, error))
    finally:
        if config is not None:
            result["postfix_stopped"] = ns_stop_postfix(root, config, log)
        if dnsbl is not None:
            dnsbl.send_signal(signal.SIGTERM)
            try:
                result["dnsbl_status"] = dnsbl.wait(timeout=WAIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                dnsbl.kill()
                result["dnsbl_status"] = dnsbl.wait(timeout=WAIT_TIMEOUT)
        log.close()
        result["resolv_conf"] = ns_read("/etc/resolv.conf")
        result["maillog"] = ns_read(os.path.join(root, "maillog"))
        result["commands_log"] = ns_read(os.path.join(root, "commands.log"))
    return result


def end_leftovers(root):
    """end_leftovers - kill, by the ids it recorded, what a killed namespace script left."""
    pids = json.loads(ns_read(os.path.join(root, "pids.json")) or "{}")
    for pid in pids.values():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_postfix_reject_rbl_client_against_relayguard_dnsbl(relayguard):
    if os.geteuid() != 0:
        pytest.skip("needs root: unshare -mn and Postfix's privileged start")
    for tool in ("unshare", "postfix", "ip", "mount"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed" % tool)
    if not os.path.isdir("/usr/lib/postfix/sbin"):
        pytest.skip("Postfix daemons are not installed")
    resolv_before = ns_read("/etc/resolv.conf")
    root = tempfile.mkdtemp(prefix="relayguard-postfix-")
    os.chmod(root, 0o755)     # Postfix's daemons (user postfix) and dnsbl (nobody) read it
    try:
        try:
            run = subprocess.run(["unshare", "-mn", "--", "/usr/bin/python3",
                os.path.abspath(__file__), NAMESPACE_COMMAND, relayguard, root],
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=POSTFIX_TIMEOUT)
        except subprocess.TimeoutExpired:
            end_leftovers(root)
            pytest.fail("the namespace script ran longer than %d s" % POSTFIX_TIMEOUT)
        lines = run.stdout.strip().splitlines()
        assert run.returncode == 0 and lines, run.stdout + run.stderr
        result = json.loads(lines[-1])
        context = "maillog:\n%s\ncommands:\n%s" % (result["maillog"][-3000:],
            result["commands_log"][-3000:])
        assert result["errors"] == [], context
        assert result["resolv_conf"].startswith("nameserver 127.0.0.1\n")
        assert result["getaddrinfo"] == ["127.0.0.2"], result["getaddrinfo"]

        assert result["listed"]["rcpt"] == [[554, postfix_rbl_reply(LISTED,
            relays_txt(LISTED))]], context
        assert result["test_point"]["rcpt"] == [[554, postfix_rbl_reply(TEST_POINT,
            relays_txt(TEST_POINT))]], context
        unlisted = result["unlisted"]
        assert unlisted["rcpt"][0][0] == 554 and "Relay access denied" in unlisted["rcpt"][0][1]
        assert unlisted["rcpt"][1] == [250, "2.1.5 Ok"], context
        assert unlisted["data"][0] == 250 and "queued as" in unlisted["data"][1], context
        assert "blocked using %s" % ZONE in result["maillog"]

        assert 'relayguard_dnsbl_queries_total{zone="%s",rcode="NOERROR"}' % ZONE in \
            result["metrics"]
        assert 'relayguard_dnsbl_queries_total{zone="%s",rcode="NXDOMAIN"}' % ZONE in \
            result["metrics"]
        assert result["postfix_stopped"] is True, context
        assert result["dnsbl_status"] == 0, context
        check_sanitizers(result["commands_log"])
        # the bind mount stayed inside the namespace
        assert ns_read("/etc/resolv.conf") == resolv_before
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != NAMESPACE_COMMAND:
        sys.stderr.write("usage: %s %s RELAYGUARD DIRECTORY (inside unshare -mn)\n" % (
            sys.argv[0], NAMESPACE_COMMAND))
        sys.exit(2)
    print(json.dumps(namespace_main(sys.argv[2], sys.argv[3])))
