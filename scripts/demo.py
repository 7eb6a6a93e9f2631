#!/usr/bin/python3
# demo.py - `make demo`: fake SMTP servers on 127.0.3.x checked by relayguard, then the whole
# loop (store, list, dnsbl, smtpd as a shield). Loopback only; non-zero if anything is unexpected.
"""relayguard demo.

Usage: demo.py --relayguard PATH

Starts fake SMTP servers (tests/integration/fakes/fake_smtp.py) on 127.0.3.1-5 port 2525:
secure, open, percent, accept-then-drop and starttls-required.  Runs `relayguard check` on all
of them (the text table), then `--confirm` on the open relay and on the accept-then-drop sink
with relayguard's receiver on 127.0.0.1, explains the verdicts.  Then the loop of DESIGN.md:
the --confirm results go into a SQLite store, `relayguard list sync` lists the proven open
relay, `relayguard dnsbl` publishes it (dig shows A and TXT), and `relayguard smtpd` with
examples/relayguard.conf stands in front of the open relay as its shield: checked, it is
closed.  Everything it started is stopped at the end.
"""

import argparse
import json
import os
import select
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAKE_SMTP = ROOT / "tests" / "integration" / "fakes" / "fake_smtp.py"
PORT = 2525
READY_TIMEOUT = 30
CHECK_TIMEOUT = 300
CONFIRM_WAIT = 5
PROBE_DOMAIN = "probe.relayguard.test"

# behaviour, address, verdict expected without --confirm, what it shows
FAKES = [
    ("secure", "127.0.3.1", "closed",
        "refuses every third-party recipient at RCPT: not a relay."),
    ("open", "127.0.3.2", "open",
        "the 1999 hole: takes mail from anyone for anyone and passes it on."),
    ("percent", "127.0.3.3", "open",
        "refuses plain relaying but routes user%victim@itself (R01, R02, R04)."),
    ("accept-then-drop", "127.0.3.4", "open",
        "a sink: says 250 after the final dot and drops the message. Only --confirm tells."),
    ("starttls-required", "127.0.3.5", "open",
        "refuses MAIL before STARTTLS (530); relayguard upgrades and finds the relay."),
]
# target behaviour -> verdict expected with --confirm
CONFIRM_EXPECTED = {"open": "open", "accept-then-drop": "closed"}

VERDICTS = """\
What the verdicts mean:
  open          a probe message for a third party was relayed: with --confirm it reached our
                receiver (stage delivered); without, the server said 250 after the final dot
                (stage data), which a sink that drops mail can fake.
  suspect       a third-party RCPT got 2xx but nothing proved more (--depth rcpt only).
  closed        every probe was refused (or accepted and never delivered, with --confirm).
  inconclusive  only 4xx after retries, timeouts, TLS required and impossible, garbage.
  unreachable   no connection, or a domain with no mail address (null MX, NXDOMAIN)."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_fakes(workdir, receiver_port):
    """start_fakes - the fake_smtp.py process serving FAKES; waits for its READY line."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=mx.starttls-required.test"],
        check=True, capture_output=True, timeout=60)
    config = []
    for behaviour, address, _, _ in FAKES:
        options = {}
        if behaviour in ("open", "percent"):
            options["next_hop"] = "127.0.0.1:%d" % receiver_port
        if behaviour == "starttls-required":
            options.update(cert=str(cert), key=str(key))
        config.append({"behaviour": behaviour, "address": address, "port": PORT,
            "options": options})
    (workdir / "fakes.json").write_text(json.dumps(config))
    process = subprocess.Popen([sys.executable, str(FAKE_SMTP), "--config",
        str(workdir / "fakes.json"), "--log", str(workdir / "fakes.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready and process.stdout.readline().startswith("READY"):
            return process
    process.kill()
    raise SystemExit("demo: the fake SMTP servers did not start: %s" % process.communicate()[1])


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(relayguard, args, show=True):
    """run - relayguard check with the demo's common options; CompletedProcess."""
    command = [relayguard, "check", "-q", "--helo", "demo.relayguard.test", "--timeout", "10",
        *args]
    if show:
        print("$ " + " ".join(command), flush=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=CHECK_TIMEOUT,
        stdin=subprocess.DEVNULL)


def verdicts_of(result):
    """verdicts_of - {address: JSON object} from a --json run."""
    objects = {}
    for line in result.stdout.splitlines():
        if line.strip():
            entry = json.loads(line)
            objects[entry["address"]] = entry
    return objects


def start_daemon(command, log_path):
    """start_daemon - a relayguard daemon in the background, its log in log_path."""
    print("$ " + " ".join(str(part) for part in command), flush=True)
    log = open(log_path, "w")
    return subprocess.Popen([str(part) for part in command], stdout=log, stderr=log,
        stdin=subprocess.DEVNULL), log


def wait_for_port(address, port, what):
    """wait_for_port - until something accepts TCP connections at address:port."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("demo: %s did not start on %s:%d" % (what, address, port))


def dig(port, name, rrtype):
    """dig - the answer section of one query to our DNSBL on loopback."""
    result = subprocess.run(["dig", "+short", "+time=2", "+tries=2", "-p", str(port),
        "@127.0.0.1", name, rrtype], capture_output=True, text=True, timeout=30)
    return result.stdout.strip() if result.returncode == 0 else ""


def demo_loop(relayguard, workdir, confirm, confirm_targets):
    """demo_loop - the whole loop of DESIGN.md on loopback: check into a store, list the
    proven open relay, publish it with relayguard dnsbl, and put relayguard smtpd (the
    example configuration) in front of the open relay as a shield. Returns failures."""
    failures = []
    db = workdir / "relayguard.sqlite"
    print("The loop: record the --confirm results in a store, list what was proven open,")
    print("publish it over DNS, and shield the open relay with relayguard smtpd.")
    result = run(relayguard, ["--json", "--db", str(db), *confirm, *confirm_targets.values()])
    sync = subprocess.run([relayguard, "list", "sync", "--db", str(db)], capture_output=True,
        text=True, timeout=60)
    print("$ relayguard list sync --db %s\n%s" % (db, (sync.stdout + sync.stderr).strip()))
    shown = subprocess.run([relayguard, "list", "show", "--db", str(db)], capture_output=True,
        text=True, timeout=60)
    print(shown.stdout.strip())
    open_address = "127.0.3.2"
    if open_address not in shown.stdout:
        failures.append("list sync did not list the open relay %s" % open_address)

    dns_port = free_port()
    dnsbl, dnsbl_log = start_daemon([relayguard, "dnsbl", "--listen", "127.0.0.1:%d" % dns_port,
        "--user", "root", "--zone", "relays.bl.test:store:%s" % db], workdir / "dnsbl.log")
    smtpd = None
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        answer = ""
        name = ".".join(reversed(open_address.split("."))) + ".relays.bl.test"
        while time.monotonic() < deadline and not answer:
            answer = dig(dns_port, name, "A")
            if not answer:
                time.sleep(0.3)
        txt = dig(dns_port, name, "TXT")
        print("$ dig -p %d @127.0.0.1 %s A / TXT\n  %s\n  %s" % (dns_port, name, answer, txt))
        if not answer.startswith("127.0.0."):
            failures.append("relayguard dnsbl did not answer the listing: %r" % answer)
            dnsbl_log.flush()
            print((workdir / "dnsbl.log").read_text()[-2000:])
        clean = dig(dns_port, "4.3.0.127.relays.bl.test", "A")
        if clean:
            failures.append("the accept-then-drop sink is listed: %r" % clean)

        smtpd_address, smtpd_port = "127.0.3.60", 2525
        queue = workdir / "queue"
        maildir = workdir / "maildir"
        smtpd, smtpd_log = start_daemon([relayguard, "smtpd", "-f",
            "-c", ROOT / "examples" / "relayguard.conf",
            "-o", "listen=%s:%d" % (smtpd_address, smtpd_port),
            "-o", "queue_dir=%s" % queue, "-o", "maildir=%s" % maildir,
            "-o", "next_hop=smtp:%s:%d" % (open_address, PORT), "-o", "user=root",
            "-o", "dns_server=127.0.0.1:%d" % dns_port, "-o", "dnsbl=relays.bl.test"],
            workdir / "smtpd.log")
        wait_for_port(smtpd_address, smtpd_port, "relayguard smtpd")
        print("relayguard smtpd (examples/relayguard.conf) now stands in front of the open "
            "relay %s as its shield:" % open_address)
        shielded = verdicts_of(run(relayguard, ["--json", "%s:%d" % (smtpd_address, smtpd_port)]))
        verdict = shielded.get(smtpd_address, {}).get("verdict")
        print("  relayguard check %s:%d -> %s (%s)" % (smtpd_address, smtpd_port, verdict,
            shielded.get(smtpd_address, {}).get("reason")))
        if verdict != "closed":
            failures.append("relayguard smtpd: verdict %s, expected closed" % verdict)
        with smtplib.SMTP(smtpd_address, smtpd_port, timeout=30) as client:
            client.ehlo("client.example.net")
            refused = client.sendmail("someone@example.net", ["postmaster@example.org"],
                "Subject: demo\r\n\r\nhello postmaster\r\n")
        print("  a message for postmaster@example.org was accepted (%s)" % (refused or "250"))
    finally:
        if smtpd is not None:
            stop(smtpd)
        stop(dnsbl)
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relayguard", required=True, help="path of the relayguard binary")
    args = parser.parse_args()
    if not os.access(args.relayguard, os.X_OK):
        raise SystemExit("demo: %s is not an executable (run `make build`)" % args.relayguard)
    if shutil.which("openssl") is None:
        raise SystemExit("demo: the openssl command is needed for the STARTTLS fake")
    failures = []
    receiver_port = free_port()
    with tempfile.TemporaryDirectory(prefix="relayguard-demo-") as tmp:
        fakes = start_fakes(Path(tmp), receiver_port)
        try:
            targets = ["%s:%d" % (address, PORT) for _, address, _, _ in FAKES]
            print("Five fake SMTP servers on loopback:")
            for behaviour, address, _, story in FAKES:
                print("  %s:%d  %-18s %s" % (address, PORT, behaviour, story))
            print()
            table = run(args.relayguard, targets)
            print(table.stdout + table.stderr, flush=True)
            checked = verdicts_of(run(args.relayguard, ["--json", *targets], show=False))
            for behaviour, address, expected, _ in FAKES:
                got = checked.get(address, {}).get("verdict")
                if got != expected:
                    failures.append("%s: verdict %s, expected %s" % (behaviour, got, expected))

            print("Now with delivery proof (--confirm): relayguard's receiver listens on "
                "127.0.0.1:%d and the probes are addressed to %s." % (receiver_port, PROBE_DOMAIN))
            confirm = ["--confirm", "--probe-domain", PROBE_DOMAIN, "--receiver",
                "127.0.0.1:%d" % receiver_port, "--confirm-wait", str(CONFIRM_WAIT)]
            confirm_targets = {behaviour: "%s:%d" % (address, PORT)
                for behaviour, address, _, _ in FAKES if behaviour in CONFIRM_EXPECTED}
            result = run(args.relayguard, ["--json", *confirm, *confirm_targets.values()])
            confirmed = verdicts_of(result)
            for behaviour, target in confirm_targets.items():
                entry = confirmed.get(target.rsplit(":", 1)[0], {})
                print("  %-16s %-10s %-12s %s" % (behaviour, entry.get("verdict"),
                    entry.get("stage") or "-", entry.get("reason")))
                if entry.get("verdict") != CONFIRM_EXPECTED[behaviour]:
                    failures.append("%s with --confirm: verdict %s, expected %s" % (
                        behaviour, entry.get("verdict"), CONFIRM_EXPECTED[behaviour]))
            if result.stderr.strip():
                print(result.stderr.strip())
            print()
            print(VERDICTS)
            print()
            print("The sink at 127.0.3.4 looked open at depth data (a 250 after the final dot) "
                "and is closed with --confirm: nothing it accepted ever arrived.")
            print()
            failures += demo_loop(args.relayguard, Path(tmp), confirm, confirm_targets)
        finally:
            stop(fakes)
    if failures:
        print("\ndemo: UNEXPECTED VERDICTS:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("\ndemo: every verdict was the expected one.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
