# test_check_tricks.py - `relayguard check` against fakes that relay through one trick class each.
# Each test names the fake's behaviour and the battery ids that must work; loopback fakes only.
"""Verdict, stage and trick ids per relay trick (battery in DESIGN.md and cli-spec.md).

A fake relays only when its trick class is the outermost routing step of the recipient, so
the expected ids follow from the battery table: e.g. the percent fake takes u%V@I (R01),
u%V@H (R02) and "u%V" (R04, the quotes are no routing step, the % is)."""

from conftest import VICTIM, assert_tricks, fake_address, fake_target, only_target

BATTERY_ORDER = [
    "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
    "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
    "R13", "R14", "R15", "R17",
    "N01", "N02", "N03", "N04", "N05", "X02", "X03",
]

# An open relay accepts every probe except X03, which works only when MAIL got a 5xx.
EVERY_RELAY_PROBE = {
    "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
    "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
    "R13", "R14", "R15", "R17",
    "N01", "N02", "N03", "N04", "N05", "X02",
}


def check_one(run_check, behaviour, *args):
    code, objects, stderr = run_check(fake_target(behaviour), *args)
    result = only_target(objects)
    assert result["address"] == fake_address(behaviour)
    return code, result


def assert_open(code, result, stage, tricks):
    assert result["verdict"] == "open", result["reason"]
    assert result["stage"] == stage
    assert_tricks(result, tricks)
    assert code == 1


def test_secure_server_is_closed_with_no_tricks(run_check):
    code, result = check_one(run_check, "secure")
    assert result["verdict"] == "closed", result["reason"]
    assert result["tricks"] == []
    assert code == 0


def test_default_battery_runs_every_id_in_battery_order(run_check):
    _, result = check_one(run_check, "secure")
    assert [test["id"] for test in result["tests"]] == BATTERY_ORDER


def test_secure_server_refuses_every_probe(run_check):
    _, result = check_one(run_check, "secure")
    outcomes = {test["id"]: test["outcome"] for test in result["tests"]}
    # X03 needs a refused MAIL; the secure fake accepts MAIL s@V, so it does not apply.
    assert outcomes.pop("X03") == "not-applicable"
    assert set(outcomes.values()) == {"refused"}, outcomes


def test_open_relay_is_open_at_data_through_every_relay_probe(run_check):
    code, result = check_one(run_check, "open")
    assert_open(code, result, "data", {
        "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N01", "N02", "N03", "N04", "N05", "X02"})


def test_percent_hack_relay_is_open_through_r01_r02_r04(run_check):
    code, result = check_one(run_check, "percent")
    assert_open(code, result, "data", {"R01", "R02", "R04"})


def test_battery_addresses_use_banner_host_mail_domain_and_literal(run_check):
    """H = mx.percent.test from the banner, T = percent.test, I = [127.0.2.3]."""
    _, result = check_one(run_check, "percent")
    tests = {test["id"]: test for test in result["tests"]}
    literal = "[%s]" % fake_address("percent")
    assert tests["R01"]["mail_from"] == "<relayguard@%s>" % literal
    assert tests["R01"]["rcpt_to"] == "<relaytest%%%s@%s>" % (VICTIM, literal)
    assert tests["R02"]["rcpt_to"] == "<relaytest%%%s@mx.percent.test>" % VICTIM
    assert tests["R08"]["rcpt_to"] == '<"relaytest@%s"@percent.test>' % VICTIM
    assert tests["R17"]["rcpt_to"] == "<IMCEASMTP-relaytest+40%s@percent.test>" % VICTIM
    assert tests["S01"]["mail_from"] == "<>"
    assert tests["N05"]["rcpt_to"] == "<relaytest>"


def test_percent_relay_probes_reach_data_accepted(run_check):
    _, result = check_one(run_check, "percent")
    outcomes = {test["id"]: test["outcome"] for test in result["tests"]}
    assert {i for i, outcome in outcomes.items() if outcome == "data-accepted"} == {
        "R01", "R02", "R04"}


def test_bang_path_relay_is_open_through_r12_r13_r14(run_check):
    code, result = check_one(run_check, "bang")
    assert_open(code, result, "data", {"R12", "R13", "R14"})


def test_quoted_local_part_relay_is_open_through_r03_r06_r08_r09(run_check):
    code, result = check_one(run_check, "quoted")
    assert_open(code, result, "data", {"R03", "R06", "R08", "R09"})


def test_source_route_relay_is_open_through_r10_r11(run_check):
    code, result = check_one(run_check, "source-route")
    assert_open(code, result, "data", {"R10", "R11"})


def test_double_at_relay_is_open_through_r05_r07(run_check):
    code, result = check_one(run_check, "double-at")
    assert_open(code, result, "data", {"R05", "R07"})


def test_trailing_at_relay_is_open_through_r15(run_check):
    code, result = check_one(run_check, "trailing-at")
    assert_open(code, result, "data", {"R15"})


def test_exchange_encapsulation_relay_is_open_through_r17(run_check):
    code, result = check_one(run_check, "encapsulated")
    assert_open(code, result, "data", {"R17"})


def test_local_sender_spoof_relay_is_open_through_every_probe_with_a_local_sender(run_check):
    """S04-S09 spoof H, T, I, localhost, no domain, postmaster@H; R tests send as s@I, s@H or
    s@T and N tests as s@H, so the trusting fake relays them all."""
    code, result = check_one(run_check, "local-sender-spoof")
    assert_open(code, result, "data", {
        "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N01", "N02", "N03", "N04", "N05"})


def test_null_sender_relay_is_open_through_s01(run_check):
    code, result = check_one(run_check, "null-sender")
    assert_open(code, result, "data", {"S01"})


def test_mail_refused_but_rcpt_accepted_relay_is_open_through_x03(run_check):
    code, result = check_one(run_check, "mail-refused-rcpt-accepted")
    assert_open(code, result, "data", {"X03"})


def test_bogus_auth_accepted_relay_is_open_through_x02(run_check):
    code, result = check_one(run_check, "auth-any")
    assert_open(code, result, "data", {"X02"})
