# test_check_confirm.py - `relayguard check --confirm`: probes must arrive at relayguard's own
# receiver (127.0.0.1:receiver_port, the open and percent fakes' next_hop) to count as delivered.
"""Delivery proof: the only depth that a relay which accepts and drops cannot fool.

The relaying fakes deliver every accepted third-party message to their next_hop, addressed to
the decoded final recipient; relayguard's receiver listens there for the probe domain."""

from conftest import (PROBE_DOMAIN, assert_tricks, fake_address, fake_target, only_target,
    tricks_of)


def check_one(run_check, behaviour, *args):
    code, objects, _ = run_check(fake_target(behaviour), *args)
    result = only_target(objects)
    assert result["address"] == fake_address(behaviour)
    return code, result


def test_open_relay_with_confirm_is_open_delivered(run_check, confirm_args, fake_smtp):
    """N05 (no domain) stays local on the fake and X03 needs a 5xx MAIL, so neither can arrive;
    N01/N02 name the receiver's address literal, which the receiver may or may not take."""
    code, result = check_one(run_check, "open", *confirm_args(10))
    assert result["verdict"] == "open", result["reason"]
    assert result["stage"] == "delivered"
    assert_tricks(result, {
        "S01", "S02", "S03", "S04", "S05", "S06", "S07", "S08", "S09",
        "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12",
        "R13", "R14", "R15", "R17",
        "N03", "N04", "X02"}, ignore={"N01", "N02"})
    delivered = {test["id"] for test in result["tests"] if test["outcome"] == "delivered"}
    assert delivered == tricks_of(result)
    assert code == 1


def test_confirm_probes_use_the_probe_domain_and_a_token(run_check, confirm_args):
    _, result = check_one(run_check, "open", "--tests", "S02", *confirm_args(10))
    test = result["tests"][0]
    local, _, domain = test["rcpt_to"].strip("<>").partition("@")
    assert domain == PROBE_DOMAIN
    assert local.startswith("rg") and len(local) == 26
    assert all(c in "0123456789abcdef" for c in local[2:])


def test_percent_relay_with_confirm_is_open_delivered_through_r01_r02_r04(run_check, confirm_args):
    code, result = check_one(run_check, "percent", *confirm_args(10))
    assert result["verdict"] == "open", result["reason"]
    assert result["stage"] == "delivered"
    assert_tricks(result, {"R01", "R02", "R04"})
    assert code == 1


def test_accept_then_drop_with_confirm_is_closed_never_delivered(run_check, confirm_args):
    code, result = check_one(run_check, "accept-then-drop", *confirm_args(5))
    assert result["verdict"] == "closed", result["reason"]
    assert "never delivered" in result["reason"]
    assert result["tricks"] == []
    assert {test["outcome"] for test in result["tests"]} <= {"not-delivered", "refused", "not-applicable"}
    assert code == 0


def test_accept_then_drop_with_confirm_reached_data_on_the_fake(run_check, confirm_args,
        fake_smtp):
    """The fake did take the messages (so only delivery proof tells it apart) but relayed none."""
    before = len(fake_smtp.relays(fake_address("accept-then-drop")))
    _, result = check_one(run_check, "accept-then-drop", "--tests", "S02", *confirm_args(3))
    assert result["tests"][0]["replies"][-1]["code"] == 250   # the reply to the final dot
    assert len(fake_smtp.relays(fake_address("accept-then-drop"))) == before
