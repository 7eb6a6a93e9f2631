# test_check_targets.py - target expansion through the fake DNS server (MX, implicit MX, null MX,
# NXDOMAIN) and --exclude, proven against the fakes' connection log. Loopback only.
"""Mail-domain targets: every A and AAAA of every MX host is its own target."""

from conftest import (MX1_ADDRESS, MX2_ADDRESS, MX2_ADDRESS6, NOMX_ADDRESS, SMTP_PORT,
    only_target)


def by_address(objects):
    return {o["address"]: o for o in objects}


def test_mx_domain_expands_to_every_address_of_every_mx_host(run_check, fake_dns):
    code, objects, _ = run_check("--dns", fake_dns, "-p", str(SMTP_PORT), "two-mx.test")
    assert len(objects) == 3, objects
    targets = by_address(objects)
    assert set(targets) == {MX1_ADDRESS, MX2_ADDRESS, MX2_ADDRESS6}
    assert targets[MX1_ADDRESS]["mx"] == {"host": "mx1.two-mx.test", "preference": 10}
    assert targets[MX2_ADDRESS]["mx"] == {"host": "mx2.two-mx.test", "preference": 20}
    assert targets[MX2_ADDRESS6]["mx"] == {"host": "mx2.two-mx.test", "preference": 20}
    for result in objects:
        assert result["target"] == "two-mx.test"
        assert result["mail_domain"] == "two-mx.test"
        assert result["port"] == SMTP_PORT
    assert code == 1


def test_mx_domain_targets_get_their_own_verdicts(run_check, fake_dns):
    _, objects, _ = run_check("--dns", fake_dns, "-p", str(SMTP_PORT), "two-mx.test")
    targets = by_address(objects)
    assert targets[MX1_ADDRESS]["verdict"] == "closed"
    assert targets[MX2_ADDRESS]["verdict"] == "closed"
    assert targets[MX2_ADDRESS6]["verdict"] == "open"
    assert targets[MX2_ADDRESS6]["family"] == "ipv6"
    assert targets[MX1_ADDRESS]["family"] == "ipv4"


def test_mx_domain_is_the_mail_domain_of_its_probes(run_check, fake_dns):
    """T = two-mx.test (the MX domain) in R08 and R17."""
    _, objects, _ = run_check("--dns", fake_dns, "-p", str(SMTP_PORT), "--tests", "R08,R17",
        "two-mx.test")
    tests = {t["id"]: t for t in by_address(objects)[MX1_ADDRESS]["tests"]}
    assert tests["R08"]["rcpt_to"].endswith('"@two-mx.test>')
    assert tests["R17"]["rcpt_to"].endswith("@two-mx.test>")


def test_ipv6_target_uses_ipv6_address_literal(run_check, fake_dns):
    _, objects, _ = run_check("--tests", "R01", "[::1]:%d" % SMTP_PORT)
    result = only_target(objects)
    assert result["family"] == "ipv6"
    assert result["tests"][0]["rcpt_to"].endswith("@[IPv6:::1]>")


def test_domain_without_mx_is_checked_at_its_own_address(run_check, fake_dns):
    code, objects, _ = run_check("--dns", fake_dns, "-p", str(SMTP_PORT), "nomx.test")
    result = only_target(objects)
    assert result["address"] == NOMX_ADDRESS
    assert result["mail_domain"] == "nomx.test"
    assert result["mx"] is None
    assert result["verdict"] == "closed"
    assert code == 0


def test_null_mx_domain_is_unreachable_with_reason(run_check, fake_dns):
    code, objects, _ = run_check("--dns", fake_dns, "-p", str(SMTP_PORT), "nullmx.test")
    result = only_target(objects)
    assert result["verdict"] == "unreachable"
    assert result["address"] is None and result["port"] is None
    assert "null mx" in result["reason"].lower()
    assert code == 0


def test_nxdomain_is_unreachable_with_reason(run_check, fake_dns):
    code, objects, _ = run_check("--dns", fake_dns, "-p", str(SMTP_PORT), "missing.test")
    result = only_target(objects)
    assert result["verdict"] == "unreachable"
    assert result["address"] is None
    reason = result["reason"].lower()
    assert "nxdomain" in reason or "does not exist" in reason or "no such domain" in reason
    assert code == 0


def test_excluded_address_is_never_contacted(run_check, fake_dns, fake_smtp, tmp_path):
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("# never touch mx2's IPv4 address\n%s\n" % MX2_ADDRESS)
    before = fake_smtp.connections(MX2_ADDRESS)
    before_mx1 = fake_smtp.connections(MX1_ADDRESS)
    _, objects, _ = run_check("--dns", fake_dns, "-p", str(SMTP_PORT), "--exclude",
        str(exclude), "two-mx.test")
    assert fake_smtp.connections(MX2_ADDRESS) == before
    assert fake_smtp.connections(MX1_ADDRESS) > before_mx1
    targets = by_address(objects)
    assert targets[MX1_ADDRESS]["verdict"] == "closed"
    assert targets[MX2_ADDRESS6]["verdict"] == "open"
    if MX2_ADDRESS in targets:
        assert targets[MX2_ADDRESS]["verdict"] not in ("open", "closed", "suspect")
        assert targets[MX2_ADDRESS]["tests"] == []


def test_excluded_prefix_stops_a_literal_target(run_check, fake_smtp, tmp_path):
    exclude = tmp_path / "exclude.txt"
    exclude.write_text("127.0.2.40/31\n")
    before = fake_smtp.connections(MX1_ADDRESS)
    run_check("--tests", "S01", "%s:%d" % (MX1_ADDRESS, SMTP_PORT))
    after_plain_run = fake_smtp.connections(MX1_ADDRESS)
    assert after_plain_run > before
    run_check("--exclude", str(exclude), "%s:%d" % (MX1_ADDRESS, SMTP_PORT))
    assert fake_smtp.connections(MX1_ADDRESS) == after_plain_run
