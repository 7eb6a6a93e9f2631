# test_smtpd_chroot.py - relayguard smtpd with `chroot` (issue 4 item 7): the daemon, its queue
# workers and delivery agents run inside the directory, as the unprivileged user. Loopback only.
"""relayguard smtpd -o chroot=DIR: root changed after binding, mail still delivered."""

import os
import pwd
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
ADDRESS = "127.0.6.1"
PORT = 2525


def relayguard_binary():
    binary = os.environ.get("RELAYGUARD")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip("RELAYGUARD is not set to a relayguard binary (make integration sets it)")
    return binary


def sanitizer_env():
    """LeakSanitizer reads /proc at exit, which a chroot hides: leak checks off here only."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "abort_on_error=1:detect_leaks=0"
    return env


@pytest.fixture
def chrooted(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    root = tmp_path / "jail"
    root.mkdir()
    # nobody must be able to reach the jail's contents through the temporary directory.
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o755)
    log = open(tmp_path / "smtpd.log", "w")
    process = subprocess.Popen([relayguard_binary(), "smtpd", "-f",
        "-c", str(ROOT / "examples" / "relayguard.conf"),
        "-o", "listen=%s:%d" % (ADDRESS, PORT), "-o", "chroot=%s" % root,
        "-o", "queue_dir=%s" % (root / "queue"), "-o", "maildir=%s" % (root / "maildir"),
        "-o", "user=nobody", "-o", "next_hop=", "-o", "workers=1"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=sanitizer_env())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            smtplib.SMTP(ADDRESS, PORT, timeout=2).quit()
            break
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    yield process, root, tmp_path / "smtpd.log"
    process.terminate()
    process.wait(timeout=20)
    log.close()


def test_smtpd_runs_inside_its_chroot_as_the_unprivileged_user(chrooted):
    process, root, log = chrooted
    assert process.poll() is None, log.read_text()
    assert os.readlink("/proc/%d/root" % process.pid) == str(root)
    status = Path("/proc/%d/status" % process.pid).read_text()
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert int(uid) == pwd.getpwnam("nobody").pw_uid
    assert "event=chrooted" in log.read_text()


def test_mail_is_queued_and_delivered_inside_the_chroot(chrooted):
    process, root, log = chrooted
    with smtplib.SMTP(ADDRESS, PORT, timeout=30) as client:
        client.ehlo("client.example.net")
        assert client.sendmail("someone@example.net", ["postmaster@example.org"],
            "Subject: chroot\r\n\r\ndelivered from inside the jail\r\n") == {}
    new = root / "maildir" / "example.org" / "postmaster" / "new"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (new.is_dir() and any(new.iterdir())):
        time.sleep(0.2)
    messages = list(new.iterdir())
    assert len(messages) == 1, log.read_text()
    assert "delivered from inside the jail" in messages[0].read_text()
    process.terminate()
    assert process.wait(timeout=20) == 0, log.read_text()


def test_lint_refuses_a_queue_dir_outside_the_chroot(tmp_path):
    jail = tmp_path / "jail"
    jail.mkdir()
    result = subprocess.run([relayguard_binary(), "lint",
        "-c", str(ROOT / "examples" / "relayguard.conf"), "-o", "chroot=%s" % jail,
        "-o", "queue_dir=%s" % (tmp_path / "queue"), "-o", "maildir=%s" % (jail / "maildir")],
        capture_output=True, text=True, timeout=30, env=sanitizer_env())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "is not inside" in result.stdout + result.stderr
