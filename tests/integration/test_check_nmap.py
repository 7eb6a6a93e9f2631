# test_check_nmap.py - nmap's smtp-open-relay script and relayguard on the same plain fakes: they
# agree on open and secure; nmap is fooled by accept-then-drop, relayguard --confirm is not.
"""Comparison with the public anchor (research notes relay-tests.md 1.1).

nmap's portrule fires only on SMTP ports or services, so it runs with a --datadir holding an
nmap-services file that names 2525/tcp smtp (nmap falls back to its installed data for the
rest: scripts, script.db, nselib)."""

import shutil
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from conftest import SMTP_PORT, VICTIM, fake_address, fake_target, only_target

NMAP_TIMEOUT = 120


@pytest.fixture(scope="module")
def nmap_datadir(tmp_path_factory):
    if shutil.which("nmap") is None:
        pytest.skip("nmap is not installed (scripts/install-deps.sh installs it)")
    datadir = tmp_path_factory.mktemp("nmap-data")
    (datadir / "nmap-services").write_text("smtp\t%d/tcp\t0.5\t# relayguard fakes\n" % SMTP_PORT)
    return datadir


def nmap_relay_output(datadir, address):
    """nmap_relay_output - the smtp-open-relay script output for address:2525."""
    result = subprocess.run(["nmap", "-Pn", "-n", "-sT", "-p", str(SMTP_PORT),
        "--datadir", str(datadir), "--script", "smtp-open-relay", "--script-args",
        "smtp-open-relay.domain=%s,smtp-open-relay.ip=%s" % (VICTIM, address),
        "-oX", "-", address], capture_output=True, text=True, timeout=NMAP_TIMEOUT)
    assert result.returncode == 0, result.stderr
    root = ElementTree.fromstring(result.stdout)
    scripts = root.findall(".//port/script[@id='smtp-open-relay']")
    assert len(scripts) == 1, "smtp-open-relay did not run:\n" + result.stdout
    return scripts[0].get("output")


def test_nmap_agrees_on_plain_fakes(nmap_datadir, run_check, confirm_args):
    nmap_open = nmap_relay_output(nmap_datadir, fake_address("open"))
    nmap_secure = nmap_relay_output(nmap_datadir, fake_address("secure"))
    nmap_sink = nmap_relay_output(nmap_datadir, fake_address("accept-then-drop"))
    assert nmap_open.startswith("Server is an open relay (16/16 tests)")
    assert "open relay" in nmap_secure and not nmap_secure.startswith("Server is an open relay")
    # nmap judges at RCPT, so the accept-everything sink fools it ...
    assert nmap_sink.startswith("Server is an open relay (16/16 tests)")

    _, objects, _ = run_check(fake_target("secure"))
    assert only_target(objects)["verdict"] == "closed"
    _, objects, _ = run_check(*confirm_args(5), fake_target("open"))
    assert only_target(objects)["verdict"] == "open"
    # ... and delivery proof does not.
    _, objects, _ = run_check(*confirm_args(5), fake_target("accept-then-drop"))
    assert only_target(objects)["verdict"] == "closed"
