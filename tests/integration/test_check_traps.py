# test_check_traps.py - `relayguard check` against the false-positive and protocol traps of
# DESIGN.md: late refusals, greylisting, greeting pauses, multi-line replies, STARTTLS, HELO/EHLO
# quirks, 421, hang-ups, garbage and tarpits. Loopback fakes only.
"""Verdicts where a naive checker goes wrong (research notes, relay-tests.md section 2)."""

import time

from conftest import assert_tricks, fake_address, fake_target, only_target


def check_one(run_check, behaviour, *args, timeout=300):
    code, objects, stderr = run_check(fake_target(behaviour), *args, timeout=timeout)
    result = only_target(objects)
    assert result["address"] == fake_address(behaviour)
    return code, result


def test_accept_then_drop_is_open_at_depth_data(run_check):
    """Without --confirm the 250 after the final dot is the proof (and the trap)."""
    code, result = check_one(run_check, "accept-then-drop")
    assert result["verdict"] == "open" and result["stage"] == "data"
    assert_tricks(result, {
        "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N01", "N02", "N03", "N04", "N05", "X02"})
    assert code == 1


def test_reject_at_data_is_closed_at_depth_data(run_check):
    code, result = check_one(run_check, "reject-at-data")
    assert result["verdict"] == "closed", result["reason"]
    assert result["tricks"] == []
    assert code == 0


def test_reject_at_data_is_suspect_at_depth_rcpt_with_every_rcpt_accepted(run_check):
    code, result = check_one(run_check, "reject-at-data", "--depth", "rcpt")
    assert result["verdict"] == "suspect", result["reason"]
    assert result["stage"] == "rcpt"
    assert_tricks(result, {
        "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N01", "N02", "N03", "N04", "N05", "X02"})
    assert not any(reply["command"] == "DATA" for test in result["tests"]
        for reply in test["replies"])
    assert code == 0


def test_reject_after_dot_is_closed(run_check):
    code, result = check_one(run_check, "reject-after-dot")
    assert result["verdict"] == "closed", result["reason"]
    assert result["tricks"] == []
    outcomes = {test["outcome"] for test in result["tests"] if test["id"] != "X03"}
    assert outcomes == {"data-refused"}, outcomes
    # X03 needs a refused MAIL; this server accepts MAIL, so the trick does not apply.
    assert [t["outcome"] for t in result["tests"] if t["id"] == "X03"] == ["not-applicable"]
    assert code == 0


def test_greylisting_relay_is_open_after_retrying_the_4xx(run_check):
    """A recipient local part of its own makes every triplet new to the fake."""
    recipient = "grey%d" % time.monotonic_ns()
    code, result = check_one(run_check, "greylist", "--to", recipient, timeout=600)
    assert result["verdict"] == "open", result["reason"]
    assert result["stage"] == "data"
    assert_tricks(result, {
        "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N01", "N02", "N03", "N04", "N05", "X02"})
    tests = {test["id"]: test for test in result["tests"]}
    assert tests["S01"]["attempts"] >= 2
    assert code == 1


def test_greylisting_for_ever_is_inconclusive(run_check):
    code, result = check_one(run_check, "greylist-forever", "--tests", "S01,S02",
        "--greylist-retries", "1")
    assert result["verdict"] == "inconclusive", result["reason"]
    assert result["tricks"] == []
    assert {test["outcome"] for test in result["tests"]} == {"deferred"}
    assert code == 0


def test_greeting_pause_relay_is_open_despite_15_second_pause(run_check):
    code, result = check_one(run_check, "greeting-pause")
    assert result["verdict"] == "open", result["reason"]
    assert result["stage"] == "data"
    assert "R01" in result["tricks"] and "S01" in result["tricks"]
    assert result["elapsed_ms"] >= 15000
    assert code == 1


def test_multiline_banner_relay_is_open_through_every_relay_probe(run_check):
    code, result = check_one(run_check, "multiline-banner")
    assert result["verdict"] == "open", result["reason"]
    assert_tricks(result, {
        "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N01", "N02", "N03", "N04", "N05", "X02"})
    assert code == 1


def test_multiline_banner_is_reported_with_its_lines_joined_by_newlines(run_check):
    _, result = check_one(run_check, "multiline-banner", "--tests", "S01")
    assert result["banner"] == ("mx.multiline-banner.test ESMTP fake multiline-banner\n"
        "this banner has three lines\nand the last one ends it")


def test_multiline_replies_are_recorded_whole(run_check):
    _, result = check_one(run_check, "multiline-banner", "--tests", "S01")
    mail = [r for r in result["tests"][0]["replies"] if r["command"] == "MAIL"][0]
    assert mail["code"] == 250
    assert mail["text"] == "2.1.0 this reply has two lines\n2.1.0 Ok"


def test_starttls_required_relay_is_open_over_tls(run_check):
    code, result = check_one(run_check, "starttls-required")
    assert result["verdict"] == "open", result["reason"]
    assert_tricks(result, {
        "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N01", "N02", "N03", "N04", "N05", "X02"})
    assert result["tls"] is not None and result["tls"]["version"].startswith("TLSv1.")
    assert code == 1


def test_starttls_required_is_inconclusive_with_no_starttls(run_check):
    code, result = check_one(run_check, "starttls-required", "--no-starttls")
    assert result["verdict"] == "inconclusive", result["reason"]
    assert result["tricks"] == []
    assert result["tls"] is None
    assert code == 0


def test_helo_only_relay_is_open_through_helo_fallback(run_check):
    """Without EHLO no AUTH is advertised, so whether X02 runs is the checker's choice (the
    fake would answer a bogus AUTH with 535 and then relay); every other probe must work."""
    code, result = check_one(run_check, "helo-only")
    assert result["verdict"] == "open", result["reason"]
    assert result["greeting"] == "HELO"
    assert_tricks(result, {
        "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N01", "N02", "N03", "N04", "N05"}, ignore={"X02"})
    assert code == 1


def test_ehlo_only_secure_server_is_closed(run_check):
    code, result = check_one(run_check, "ehlo-only")
    assert result["verdict"] == "closed", result["reason"]
    assert result["greeting"] == "EHLO"
    assert code == 0


def test_421_at_connect_is_inconclusive(run_check):
    code, result = check_one(run_check, "reject-421")
    assert result["verdict"] == "inconclusive", result["reason"]
    assert result["tricks"] == []
    assert code == 0


def test_drop_mid_battery_relay_is_open_through_r10_r11_after_reconnecting(run_check):
    code, result = check_one(run_check, "drop-mid-battery")
    assert result["verdict"] == "open", result["reason"]
    assert result["stage"] == "data"
    assert_tricks(result, {"R10", "R11"})
    assert len(result["tests"]) == 32
    assert code == 1


def test_garbage_replies_are_inconclusive(run_check):
    code, result = check_one(run_check, "garbage", "--deadline", "60", timeout=120)
    assert result["verdict"] == "inconclusive", result["reason"]
    assert result["tricks"] == []
    assert code == 0


def test_tarpit_slower_than_timeout_is_inconclusive(run_check):
    code, result = check_one(run_check, "tarpit", "--tests", "S01", "--deadline", "40",
        timeout=120)
    assert result["verdict"] == "inconclusive", result["reason"]
    assert result["tricks"] == []
    assert code == 0
