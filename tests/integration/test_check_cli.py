# test_check_cli.py - the command-line contract of `relayguard check` (cli-spec.md): exit
# statuses, JSON keys, --tests selection, the text table and its evidence. Loopback fakes only.
"""Exit status 0 (no open relay), 1 (an open relay), 2 (usage or runtime error)."""

from conftest import fake_address, fake_target, only_target, tricks_of

JSON_KEYS = {"target", "address", "port", "family", "mail_domain", "mx", "banner", "ehlo",
    "greeting", "software", "advisories", "verdict", "stage", "reason", "tricks", "notes",
    "tls", "started", "elapsed_ms", "tests", "transcript"}
TEST_KEYS = {"id", "mail_from", "rcpt_to", "outcome", "stage", "replies", "attempts",
    "elapsed_ms"}


def test_exit_status_is_0_when_no_relay_is_open(run_check):
    code, objects, _ = run_check(fake_target("secure"))
    assert only_target(objects)["verdict"] == "closed"
    assert code == 0


def test_exit_status_is_1_when_one_of_several_targets_is_open(run_check):
    code, objects, _ = run_check(fake_target("secure"), fake_target("null-sender"))
    assert sorted(o["verdict"] for o in objects) == ["closed", "open"]
    assert code == 1


def test_exit_status_is_2_on_an_unknown_option(run_relayguard):
    result = run_relayguard("check", "--no-such-option", fake_target("secure"))
    assert result.returncode == 2
    assert result.stderr.strip() != ""


def test_exit_status_is_2_on_a_bad_depth(run_relayguard):
    assert run_relayguard("check", "--depth", "sideways", fake_target("secure")).returncode == 2


def test_exit_status_is_2_on_confirm_without_receiver(run_relayguard):
    assert run_relayguard("check", "--confirm", fake_target("secure")).returncode == 2


def test_exit_status_is_2_on_an_unreadable_exclude_file(run_relayguard, tmp_path):
    missing = tmp_path / "no-such-exclude-file"
    result = run_relayguard("check", "--exclude", str(missing), fake_target("secure"))
    assert result.returncode == 2


def test_exit_status_is_2_without_a_target(run_relayguard):
    assert run_relayguard("check").returncode == 2


def test_json_object_has_every_key_of_the_contract(run_check):
    _, objects, _ = run_check("--tests", "S01,R01", fake_target("percent"))
    result = only_target(objects)
    assert JSON_KEYS <= set(result)
    assert result["target"] == fake_target("percent")
    assert result["port"] == 2525 and result["family"] == "ipv4"
    assert result["banner"] == "mx.percent.test ESMTP fake percent"
    assert result["greeting"] == "EHLO"
    assert result["started"].endswith("Z")
    for test in result["tests"]:
        assert TEST_KEYS <= set(test)
    assert {entry["dir"] for entry in result["transcript"]} >= {"S", "C"}


def test_ehlo_reply_lines_are_joined_by_newlines(run_check):
    _, objects, _ = run_check("--tests", "S01", fake_target("secure"))
    ehlo = only_target(objects)["ehlo"]
    assert ehlo.split("\n")[0] == "mx.secure.test Hello checker.test [127.0.0.1]"
    assert "PIPELINING" in ehlo.split("\n")


def test_tests_option_runs_only_the_listed_ids(run_check):
    code, objects, _ = run_check("--tests", "S01,R05,R01", fake_target("percent"))
    result = only_target(objects)
    assert {t["id"] for t in result["tests"]} == {"S01", "R01", "R05"}
    assert tricks_of(result) == {"R01"}
    assert code == 1


def test_tests_option_selects_a_whole_class(run_check):
    _, objects, _ = run_check("--tests", "N", fake_target("open"))
    result = only_target(objects)
    assert [t["id"] for t in result["tests"]] == ["N01", "N02", "N03", "N04", "N05"]


def test_tests_option_with_an_unknown_id_is_a_usage_error(run_relayguard):
    assert run_relayguard("check", "--tests", "S01,Z99", fake_target("secure")).returncode == 2


def test_victim_domain_and_local_parts_are_used_in_probes(run_check):
    _, objects, _ = run_check("--tests", "S02", "--victim-domain", "victim.example.org",
        "--from", "alice@example.com", "--to", "bob", fake_target("secure"))
    test = only_target(objects)["tests"][0]
    assert test["mail_from"] == "<alice@victim.example.org>"
    assert test["rcpt_to"] == "<bob@victim.example.org>"


def test_text_output_has_the_table_and_evidence_of_open_targets(run_relayguard):
    result = run_relayguard("check", "-q", "--helo", "checker.test", "--timeout", "5",
        fake_target("secure"), fake_target("percent"))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:7] == ["TARGET", "ADDRESS", "PORT", "VERDICT", "STAGE", "TRICKS", "SOFTWARE"]
    rows = {line.split()[0]: line.split() for line in lines[1:] if line[:1].strip()}
    assert rows[fake_target("secure")][1:3] == [fake_address("secure"), "2525"]
    assert rows[fake_target("secure")][3].lower() == "closed"
    assert rows[fake_target("percent")][3].lower() == "open"
    assert "R01,R02,R04" in rows[fake_target("percent")]
    assert "evidence" in result.stdout
    assert "relaytest%relay-victim.example.net@" in result.stdout
    assert "\x1b[" not in result.stdout    # no colour when stdout is not a terminal


def test_transcript_option_prints_every_target_transcript(run_relayguard):
    result = run_relayguard("check", "-q", "--helo", "checker.test", "--transcript",
        "--tests", "S01", fake_target("secure"))
    assert "220 mx.secure.test ESMTP fake secure" in result.stdout
    assert "MAIL FROM:<>" in result.stdout
