# test_fakes.py - the fake SMTP and DNS servers do what the relay tests assume they do.
# Talks to the fakes with smtplib, raw sockets and dig only (never relayguard), on loopback.
"""Self-tests of fakes/fake_smtp.py and fakes/fake_dns.py.

If one of these fails, the relayguard tests that use the same fake prove nothing."""

import json
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (FAKES, MX1_ADDRESS, PYTHON, SMTP_PORT, VICTIM, fake_address, free_port,
    stop, wait_ready)
from fakes.fake_smtp import AddressError, decode_address

U = "relaytest"
S = "relayguard"


def own_of(hostname, domain, literal):
    return lambda d: d.lower().rstrip(".") in (hostname, domain) or d.lower() == literal


# RFC 5321 paths of the battery against a fake mx.p.test / p.test / [127.0.2.3]
OWN = own_of("mx.p.test", "p.test", "[127.0.2.3]")
DECODE_TABLE = [
    ("R01", "%s%%%s@[127.0.2.3]" % (U, VICTIM), ["percent"]),
    ("R02", "%s%%%s@mx.p.test" % (U, VICTIM), ["percent"]),
    ("R03", '"%s@%s"' % (U, VICTIM), ["quoted"]),
    ("R04", '"%s%%%s"' % (U, VICTIM), ["percent"]),
    ("R05", "%s@%s@[127.0.2.3]" % (U, VICTIM), ["double-at"]),
    ("R06", '"%s@%s"@[127.0.2.3]' % (U, VICTIM), ["quoted"]),
    ("R07", "%s@%s@mx.p.test" % (U, VICTIM), ["double-at"]),
    ("R08", '"%s@%s"@p.test' % (U, VICTIM), ["quoted"]),
    ("R09", '"%s@%s@mx.p.test"' % (U, VICTIM), ["quoted", "double-at"]),
    ("R10", "@[127.0.2.3]:%s@%s" % (U, VICTIM), ["source-route"]),
    ("R11", "@mx.p.test:%s@%s" % (U, VICTIM), ["source-route"]),
    ("R12", "%s!%s" % (VICTIM, U), ["bang"]),
    ("R13", "%s!%s@[127.0.2.3]" % (VICTIM, U), ["bang"]),
    ("R14", "%s!%s@mx.p.test" % (VICTIM, U), ["bang"]),
    ("R15", "%s@%s@" % (U, VICTIM), ["trailing-at"]),
    ("R17", "IMCEASMTP-%s+40%s@p.test" % (U, VICTIM), ["encapsulated"]),
]


@pytest.mark.parametrize("test_id,path,tricks", DECODE_TABLE, ids=[row[0] for row in DECODE_TABLE])
def test_decoder_routes_each_battery_trick_to_the_victim(test_id, path, tricks):
    decoded = decode_address(path, OWN)
    assert decoded.foreign
    assert (decoded.local, decoded.domain) == (U, VICTIM)
    assert decoded.tricks == tricks


def test_decoder_keeps_plain_local_user_at_own_domain():
    decoded = decode_address("postmaster@MX.P.TEST.", OWN)
    assert not decoded.foreign and decoded.plain and decoded.tricks == []


def test_decoder_leaves_unqualified_user_without_domain():
    decoded = decode_address(U, OWN)
    assert decoded.domain is None and not decoded.foreign


@pytest.mark.parametrize("path", ["@mx.p.test", '"unterminated@x', "a b@p.test", "@", "",
    "u@bad..domain"])
def test_decoder_refuses_malformed_paths(path):
    with pytest.raises(AddressError):
        decode_address(path, OWN)


def smtp(behaviour, helo=True):
    client = smtplib.SMTP(fake_address(behaviour), SMTP_PORT, local_hostname="checker.test",
        timeout=20)
    if helo:
        client.ehlo()
    return client


def relay_attempt(behaviour, sender, recipient):
    """relay_attempt - (MAIL code, RCPT code) of one transaction on a fresh connection."""
    with smtp(behaviour) as client:
        mail = client.docmd("MAIL", "FROM:<%s>" % sender)[0]
        rcpt = client.docmd("RCPT", "TO:<%s>" % recipient)[0]
        return mail, rcpt


def test_fake_banner_names_its_host(fake_smtp):
    with smtp("percent", helo=False) as client:
        code, text = client.connect(fake_address("percent"), SMTP_PORT)
    assert code == 220 and text.startswith(b"mx.percent.test ")


def test_fake_secure_refuses_third_party_recipient_with_554(fake_smtp):
    assert relay_attempt("secure", "%s@%s" % (S, VICTIM), "%s@%s" % (U, VICTIM)) == (250, 554)


def test_fake_secure_refuses_percent_hack_at_own_domain_with_553(fake_smtp):
    path = "%s%%%s@[%s]" % (U, VICTIM, fake_address("secure"))
    assert relay_attempt("secure", S + "@mx.secure.test", path) == (250, 553)


def test_fake_secure_refuses_recipient_without_domain_with_501(fake_smtp):
    assert relay_attempt("secure", S + "@mx.secure.test", U) == (250, 501)


def test_fake_secure_accepts_local_user(fake_smtp):
    assert relay_attempt("secure", "%s@%s" % (S, VICTIM), "postmaster@secure.test") == (250, 250)


def test_fake_percent_accepts_percent_hack_only(fake_smtp):
    own = "[%s]" % fake_address("percent")
    assert relay_attempt("percent", S + "@" + own, "%s%%%s@%s" % (U, VICTIM, own))[1] == 250
    assert relay_attempt("percent", S + "@" + own, "%s@%s@%s" % (U, VICTIM, own))[1] == 553


def test_fake_local_sender_spoof_trusts_localhost_sender(fake_smtp):
    assert relay_attempt("local-sender-spoof", S + "@localhost", "%s@%s" % (U, VICTIM))[1] == 250
    assert relay_attempt("local-sender-spoof", S + "@" + VICTIM, "%s@%s" % (U, VICTIM))[1] == 554


def test_fake_null_sender_relays_bounces_only(fake_smtp):
    assert relay_attempt("null-sender", "", "%s@%s" % (U, VICTIM))[1] == 250
    assert relay_attempt("null-sender", S + "@" + VICTIM, "%s@%s" % (U, VICTIM))[1] == 554


def test_fake_mail_refused_rcpt_accepted_takes_rcpt_after_5xx_mail(fake_smtp):
    assert relay_attempt("mail-refused-rcpt-accepted", S + "@" + VICTIM,
        "%s@%s" % (U, VICTIM)) == (553, 250)


def test_fake_auth_any_relays_after_bogus_auth(fake_smtp):
    with smtp("auth-any") as client:
        assert client.docmd("AUTH", "PLAIN AGJvZ3VzAGJvZ3Vz")[0] == 235
        client.docmd("MAIL", "FROM:<%s@%s>" % (S, VICTIM))
        assert client.docmd("RCPT", "TO:<%s@%s>" % (U, VICTIM))[0] == 250


def test_fake_secure_refuses_bogus_auth_with_535(fake_smtp):
    with smtp("secure") as client:
        assert client.docmd("AUTH", "PLAIN AGJvZ3VzAGJvZ3Vz")[0] == 535


def test_fake_reject_at_data_refuses_data_with_554(fake_smtp):
    with smtp("reject-at-data") as client:
        client.docmd("MAIL", "FROM:<%s@%s>" % (S, VICTIM))
        assert client.docmd("RCPT", "TO:<%s@%s>" % (U, VICTIM))[0] == 250
        assert client.docmd("DATA")[0] == 554


def test_fake_reject_after_dot_refuses_after_final_dot(fake_smtp):
    with smtp("reject-after-dot") as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(S + "@" + VICTIM, [U + "@" + VICTIM], b"Subject: t\r\n\r\nbody\r\n")
    assert refused.value.smtp_code == 554


def test_fake_greylist_defers_first_then_accepts_after_delay(fake_smtp):
    recipient = "grey%d@%s" % (time.monotonic_ns(), VICTIM)
    assert relay_attempt("greylist", S + "@" + VICTIM, recipient)[1] == 450
    time.sleep(1.2)
    assert relay_attempt("greylist", S + "@" + VICTIM, recipient)[1] == 250


def test_fake_greeting_pause_answers_early_talker_with_554(fake_smtp):
    with socket.create_connection((fake_address("greeting-pause"), SMTP_PORT), timeout=20) as sock:
        sock.sendall(b"EHLO early.test\r\n")
        reply = sock.recv(1024)
        assert reply.startswith(b"554 ")
        assert sock.recv(1024) == b""


def test_fake_multiline_banner_has_three_lines(fake_smtp):
    with smtp("multiline-banner", helo=False) as client:
        code, text = client.connect(fake_address("multiline-banner"), SMTP_PORT)
    assert code == 220 and len(text.split(b"\n")) == 3


def test_fake_starttls_required_refuses_mail_before_tls_and_relays_after(fake_smtp):
    with smtp("starttls-required") as client:
        assert client.has_extn("starttls")
        assert client.docmd("MAIL", "FROM:<%s@%s>" % (S, VICTIM))[0] == 530
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context=context)
        client.ehlo()
        assert client.docmd("MAIL", "FROM:<%s@%s>" % (S, VICTIM))[0] == 250
        assert client.docmd("RCPT", "TO:<%s@%s>" % (U, VICTIM))[0] == 250


def test_fake_helo_only_refuses_ehlo_with_502(fake_smtp):
    with smtp("helo-only", helo=False) as client:
        assert client.ehlo()[0] == 502
        assert client.helo()[0] == 250


def test_fake_ehlo_only_refuses_helo_with_502(fake_smtp):
    with smtp("ehlo-only", helo=False) as client:
        assert client.helo()[0] == 502
        assert client.ehlo()[0] == 250


def test_fake_reject_421_closes_after_421(fake_smtp):
    with socket.create_connection((fake_address("reject-421"), SMTP_PORT), timeout=10) as sock:
        assert sock.recv(1024).startswith(b"421 4.3.2 ")
        assert sock.recv(1024) == b""


def test_fake_drop_mid_battery_hangs_up_at_sixth_rcpt(fake_smtp):
    with smtp("drop-mid-battery") as client:
        client.docmd("MAIL", "FROM:<%s@%s>" % (S, VICTIM))
        for _ in range(5):
            assert client.docmd("RCPT", "TO:<%s@%s>" % (U, VICTIM))[0] == 554
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.docmd("RCPT", "TO:<%s@%s>" % (U, VICTIM))


def test_fake_garbage_answers_with_non_smtp_lines(fake_smtp):
    with socket.create_connection((fake_address("garbage"), SMTP_PORT), timeout=10) as sock:
        stream = sock.makefile("rb")
        assert stream.readline().startswith(b"220 ")
        sock.sendall(b"EHLO checker.test\r\n")
        while not stream.readline().startswith(b"250 "):
            pass
        sock.sendall(b"MAIL FROM:<a@example.org>\r\n")
        assert stream.readline() == b"hello?\r\n"


def test_fake_log_records_each_connection(fake_smtp):
    before = fake_smtp.connections(MX1_ADDRESS)
    with smtplib.SMTP(MX1_ADDRESS, SMTP_PORT, timeout=10) as client:
        client.noop()
    assert fake_smtp.connections(MX1_ADDRESS) == before + 1


def test_fake_open_relays_to_next_hop(fake_smtp, fake_dir):
    """A second fake process plays the next hop: the relayed copy must arrive there."""
    port = free_port()
    config = fake_dir / "next-hop.json"
    log = fake_dir / "next-hop.jsonl"
    config.write_text(json.dumps([
        {"behaviour": "open", "address": "127.0.0.5", "port": SMTP_PORT,
         "options": {"next_hop": "127.0.0.1:%d" % port}},
        {"behaviour": "secure", "address": "127.0.0.1", "port": port,
         "options": {"hostname": "probe.relayguard.test"}}]))
    process = subprocess.Popen([PYTHON, str(FAKES / "fake_smtp.py"), "--config", str(config),
        "--log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(process, "fake_smtp.py (next hop)")
        with smtplib.SMTP("127.0.0.5", SMTP_PORT, timeout=10) as client:
            client.sendmail("someone@example.org", ["%s%%probe.relayguard.test@[127.0.0.5]" % U],
                b"Subject: relay me\r\n\r\nbody\r\n")
        deadline = time.monotonic() + 10
        arrived = []
        while time.monotonic() < deadline and not arrived:
            events = [json.loads(line) for line in log.read_text().splitlines()]
            arrived = [e for e in events if e["listener"] == "127.0.0.1:%d" % port
                and e["event"] == "message"]
            time.sleep(0.1)
    finally:
        stop(process)
    assert arrived, "the relayed message never reached the next hop"
    assert "<%s@probe.relayguard.test>" % U in arrived[0]["text"]


def dig(server, name, rtype, *options):
    address, port = server.rsplit(":", 1)
    result = subprocess.run(["dig", "+norec", "+time=2", "+tries=1", "-p", port, "@" + address,
        name, rtype, *options], capture_output=True, text=True, timeout=20)
    return result.stdout


def test_fake_dns_answers_mx_in_preference_order(fake_dns):
    out = dig(fake_dns, "two-mx.test", "MX", "+short")
    assert out.split("\n")[:2] == ["10 mx1.two-mx.test.", "20 mx2.two-mx.test."]


def test_fake_dns_answers_aaaa(fake_dns):
    assert dig(fake_dns, "MX2.two-mx.TEST", "AAAA", "+short").strip() == "::1"


def test_fake_dns_answers_null_mx(fake_dns):
    assert dig(fake_dns, "nullmx.test", "MX", "+short").strip() == "0 ."


def test_fake_dns_says_nodata_with_soa_for_missing_type(fake_dns):
    out = dig(fake_dns, "nomx.test", "MX")
    assert "status: NOERROR" in out and "ANSWER: 0" in out and "AUTHORITY: 1" in out


def test_fake_dns_says_nxdomain_with_soa_for_unknown_name(fake_dns):
    out = dig(fake_dns, "missing.test", "A")
    assert "status: NXDOMAIN" in out and "AUTHORITY: 1" in out


def test_fake_dns_answers_over_tcp(fake_dns):
    assert dig(fake_dns, "mx1.two-mx.test", "A", "+tcp", "+short").strip() == MX1_ADDRESS
