"""The ``segmint`` command line, in process: exit codes, stdout/stderr, ``--json``, ``--param``, ``--explain``, demo.

The data is a five-contact Parquet folder written here with pyarrow (plus its schema.toml); times are relative to
NOW = 2026-11-01T00:00:00Z.
"""

from __future__ import annotations

import io
import json

import pytest
from data import CLI_SCHEMA, NOW_TEXT, REF, run, run_json

from segmint.runtime import cli
from segmint.runtime.demo.showcase import SHOWCASE


def evaluate(capsys, data, rule: str, *extra: str, engine: str = "reference") -> tuple[int, dict]:
    """``eval --json`` on the test data; the reference engine unless asked (compiling kernels takes seconds)."""
    return run_json(capsys, "eval", rule, "--data", data, "--now", NOW_TEXT, "--engine", engine, *extra)


# -- eval -----------------------------------------------------------------------------------------------------------


def test_eval_prints_count_share_ids_rule_and_times(capsys, data):
    code, out, err = run(capsys, "eval", "city=Kyiv", "--data", data, "--now", NOW_TEXT)
    assert code == 0 and err == ""
    assert "2 of 5 contacts (40.0%)" in out
    assert "ids:      1, 3\n" in out
    assert "rule:     city = Kyiv\n" in out
    assert f"now:      {NOW_TEXT}" in out
    assert "compile" in out and "load" in out and "evaluate" in out


def test_eval_json_has_stable_keys_and_values(capsys, data):
    code, doc = evaluate(capsys, data, "bought within 30d", engine="compiled")
    assert code == 0
    assert set(doc) == {"rule", "canonical", "params", "engine", "count", "contacts", "now", "ids", "seconds"}
    assert doc["rule"] == "bought within 30d"
    assert doc["canonical"] == "bought within 30d"
    assert (doc["count"], doc["contacts"], doc["ids"]) == (2, 5, [1, 2])
    assert doc["now"] == NOW_TEXT
    assert doc["params"] == {} and doc["engine"] == "compiled"
    assert set(doc["seconds"]) == {"compile", "load", "evaluate"}
    assert all(isinstance(s, float) and s >= 0 for s in doc["seconds"].values())


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("opened > 2 within 7d", [1]),
        ("bought and not bought within 90d", [5]),
        ("sum(bought.amount) > 120", [1, 2]),
        ("vip", [1, 4]),
        ("city is null", [4]),
        ("not opened and not bought", [3]),
    ],
)
def test_eval_selects_the_right_contacts(capsys, data, rule, expected):
    code, doc = evaluate(capsys, data, rule)
    assert code == 0 and doc["ids"] == expected and doc["count"] == len(expected)


@pytest.mark.parametrize("rule", ["opened > 2 within 7d or sum(bought.amount within 30d) >= 100", "city = Lviv"])
def test_engines_agree(capsys, data, rule):
    docs = {e: evaluate(capsys, data, rule, engine=e)[1] for e in ("compiled", "vector", "reference", "auto")}
    assert all(doc["ids"] == docs["reference"]["ids"] for doc in docs.values())
    assert [docs[e]["engine"] for e in ("compiled", "vector", "reference")] == ["compiled", "vector", "reference"]
    assert docs["auto"]["engine"] in ("compiled", "vector")  # the engine that answered


def test_limit(capsys, data):
    _, doc = evaluate(capsys, data, "true", "--limit", "2")
    assert doc["count"] == 5 and doc["ids"] == [1, 2]
    code, out, _ = run(capsys, "eval", "true", "--data", data, "--now", NOW_TEXT, "--limit", "3", *REF)
    assert code == 0 and "ids:      1, 2, 3 ...\n" in out


def test_now_moves_windows(capsys, data):
    _, doc = run_json(capsys, "eval", "bought within 30d", "--data", data, "--now", "2026-10-01", *REF)
    assert doc["ids"] == [1] and doc["now"] == "2026-10-01T00:00:00Z"  # only the purchase 40 days before NOW


def test_now_defaults_to_the_data_sets_meta_json(capsys, data, tmp_path):
    copy = tmp_path / "with-meta"
    copy.mkdir()
    for path in data.rglob("*"):
        if path.is_file():
            target = copy / path.relative_to(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    (copy / "meta.json").write_text(json.dumps({"now": "2026-10-01T00:00:00+00:00"}), encoding="utf-8")
    _, doc = run_json(capsys, "eval", "bought within 30d", "--data", copy, *REF)
    assert doc["now"] == "2026-10-01T00:00:00Z" and doc["ids"] == [1]


def test_explicit_schema_file(capsys, data, tmp_path):
    schema = tmp_path / "other.toml"
    schema.write_text(CLI_SCHEMA.replace('verb = "bought"', 'verb = "purchased"'), encoding="utf-8")
    _, doc = evaluate(capsys, data, "purchased within 30d", "--schema", schema)
    assert doc["ids"] == [1, 2]


def test_rule_from_stdin(capsys, data, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("city = Lviv\n  and not vip\n"))
    _, doc = evaluate(capsys, data, "-")
    assert doc["ids"] == [2, 5] and doc["canonical"] == "city = Lviv and not vip"


# -- parameters -----------------------------------------------------------------------------------------------------


def test_params_are_converted_by_their_type(capsys, data):
    code, doc = evaluate(capsys, data, "bought amount > $min within $days", "--param", "min=60", "--param", "$days=7d")
    assert code == 0 and doc["ids"] == [1] and doc["params"] == {"min": "60", "days": "7d"}
    _, doc = evaluate(capsys, data, "city = $city and bought since $start", "--param", "city=Lviv",
                      "--param", "start=2026-10-01")  # fmt: skip
    assert doc["ids"] == [2]


def test_param_errors_exit_1(capsys, data):
    code, out, err = run(capsys, "eval", "bought amount > $min", "--data", data, "--now", NOW_TEXT)
    assert code == 1 and "missing parameter(s): $min" in err and out == ""
    code, out, err = run(capsys, "eval", "bought amount > $min", "--data", data, "--param", "min=lots")
    assert code == 1 and "must be a number" in err
    code, out, err = run(capsys, "eval", "vip", "--data", data, "--param", "min=1")
    assert code == 1 and "unknown parameter(s): $min" in err


def test_param_syntax_is_a_usage_error(capsys, data):
    code, _, err = run(capsys, "eval", "vip", "--data", data, "--param", "min")
    assert code == 2 and "NAME=VALUE" in err


# -- explain --------------------------------------------------------------------------------------------------------


def test_explain_prints_the_tree(capsys, data):
    code, out, _ = run(capsys, "eval", "opened > 2 within 7d and city = Kyiv", "--data", data, "--now", NOW_TEXT,
                       "--explain", "1", *REF)  # fmt: skip
    assert code == 0
    assert "contact 1 is in:" in out
    assert "  yes  opened > 2 times within 7d" in out
    assert "count(opened within 7d)" in out
    code, out, _ = run(capsys, "eval", "city = Kyiv", "--data", data, "--now", NOW_TEXT, "--explain", "2", *REF)
    assert code == 0 and "contact 2 is out:" in out and "no  city = Kyiv" in out


def test_explain_json(capsys, data):
    _, doc = evaluate(capsys, data, "opened > 2 within 7d or vip", "--explain", "4")
    assert doc["explain"]["id"] == "4"
    assert doc["explain"]["value"] is True
    assert [child["value"] for child in doc["explain"]["children"]] == [False, True]


def test_explain_unknown_contact_exits_2(capsys, data):
    code, _, err = run(capsys, "eval", "vip", "--data", data, "--explain", "99", *REF)
    assert code == 2 and "no contact with id '99'" in err


# -- rule errors and other failures --------------------------------------------------------------------------------


def test_rule_error_exits_1_with_the_full_message(capsys, data):
    code, out, err = run(capsys, "eval", "city = Kyiv and opnd", "--data", data)
    assert code == 1 and out == ""
    assert "line 1, column 17" in err
    assert "  city = Kyiv and opnd\n" in err
    assert "                  ^^^^\n" in err
    assert "did you mean 'opened'?" in err


def test_rule_error_json(capsys, data):
    code, doc = run_json(capsys, "eval", "city = Paris", "--data", data)
    assert code == 1 and doc["exit_code"] == 1
    assert doc["error"]["error"] == "RuleNameError"
    assert (doc["error"]["line"], doc["error"]["column"]) == (1, 8)
    assert "^^^^^" in doc["error"]["text"]


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no command
        ["frobnicate"],
        ["eval"],  # no rule
        ["eval", "vip", "--limit", "-1"],
        ["eval", "vip", "--now", "yesterday"],
        ["demo", "--contacts", "0"],
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err


def test_missing_data_dir_exits_2(capsys, tmp_path):
    code, out, err = run(capsys, "eval", "vip", "--data", tmp_path / "nowhere")
    assert code == 2 and out == "" and "no such directory" in err
    code, doc = run_json(capsys, "eval", "vip", "--data", tmp_path / "nowhere")
    assert code == 2 and doc["error"]["error"] == "UsageError"


def test_data_that_does_not_fit_the_schema_exits_2(capsys, data, tmp_path):
    schema = tmp_path / "more.toml"
    schema.write_text(CLI_SCHEMA.replace('vip = "bool"', 'vip = "bool"\nloyalty = "int"'), encoding="utf-8")
    code, out, err = run(capsys, "eval", "loyalty > 3", "--data", data, "--schema", schema)
    assert code == 2 and out == "" and "loyalty" in err


def test_help_lists_exit_codes(capsys):
    for argv in (["--help"], ["eval", "--help"], ["check", "--help"], ["demo", "--help"]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "exit codes:" in out and "1  rule error" in out


# -- check ----------------------------------------------------------------------------------------------------------


def test_check_prints_the_canonical_rule(capsys):
    code, out, err = run(capsys, "check", "opened>2 within 90d and (ios_open or bought brand=Apple)")
    assert code == 0 and err == ""
    assert out == "opened > 2 times within 90d and (ios_open or bought brand = Apple)\n"


def test_check_error_shows_the_caret(capsys):
    code, out, err = run(capsys, "check", "gender = f and (city = Kyiv")
    assert code == 1 and out == ""
    lines = err.splitlines()
    assert "  gender = f and (city = Kyiv" in lines
    assert any(line.strip() and set(line.strip()) == {"^"} for line in lines)


def test_check_json(capsys, data):
    code, doc = run_json(capsys, "check", "bought amount > $min", "--schema", data / "schema.toml")
    assert code == 0 and doc == {"rule": "bought amount > $min", "canonical": "bought amount > $min",
                                 "params": {"min": "float"}}  # fmt: skip
    code, doc = run_json(capsys, "check", 'bought amount > "x"', "--schema", data / "schema.toml")
    assert code == 1 and doc["error"]["error"] == "RuleTypeError"


def test_check_with_a_missing_schema_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "check", "vip", "--schema", tmp_path / "missing.toml")
    assert code == 2 and "schema file not found" in err


def test_no_color(capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    _, _, coloured = run(capsys, "check", "opnd")
    monkeypatch.setenv("NO_COLOR", "1")
    _, _, plain = run(capsys, "check", "opnd")
    assert "31m" in coloured and "31m" not in plain


# -- demo -----------------------------------------------------------------------------------------------------------


def test_demo_runs_the_showcase(capsys, small_demo):
    code, out, err = run(capsys, "demo", "--contacts", "2000")
    assert code == 0, err
    assert "2,000 contacts" in out and "now = 2026-11-01T00:00:00Z" in out
    for name, _, _ in SHOWCASE:
        assert name in out
    assert 'segmint eval "' in out
    assert any(small_demo.glob("demo-2000-7-*/meta.json"))


def test_eval_without_data_uses_the_demo_and_its_now(capsys, small_demo):
    code, doc = run_json(capsys, "eval", "churned")
    assert code == 0 and doc["contacts"] == 2_000 and doc["now"] == "2026-11-01T00:00:00Z"
    assert 0 < doc["count"] < 2_000
    again = run_json(capsys, "eval", "churned")[1]
    assert (again["count"], again["ids"]) == (doc["count"], doc["ids"])  # reproducible
    code, doc = run_json(capsys, "eval", "viewed category=$c within $d", "--param", "c=iPhones", "--param", "d=30d",
                         "--explain", str(doc["ids"][0]))  # fmt: skip
    assert code == 0 and doc["explain"]["text"] == "viewed category = $c within $d"


def test_eval_rule_error_on_the_demo_needs_no_data(capsys, small_demo):
    code, _, err = run(capsys, "eval", "opened > 2 withn 90d")
    assert code == 1 and "^" in err
    assert not small_demo.exists()  # the rule was checked before any data was generated


# -- hostile input: never an internal error -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "vip", "--limit", "-1", "--json"],
        ["eval", "--json"],  # no rule
        ["check", "--json", "--frobnicate", "vip"],
        ["eval", "vip", "--engine", "fast", "--json"],
    ],
)
def test_usage_errors_with_json_print_a_json_error(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and "usage:" in err
    document = json.loads(out)
    assert document["exit_code"] == 2 and document["error"]["error"] == "UsageError"
    assert document["error"]["message"].startswith("segmint")


def test_bench_json_is_a_file_so_its_usage_errors_stay_text(capsys):
    code, out, err = run(capsys, "bench", "--json", "out.json", "--repeat", "0")
    assert code == 2 and out == "" and "--repeat" in err


@pytest.mark.parametrize(
    ("rule", "now", "expected"),
    [
        ("opened within 3000y", NOW_TEXT, [1, 4]),  # a window starting before year 1 reaches back to all time
        ("opened within 1000000000000d", NOW_TEXT, [1, 4]),
        ("bought before 3000y ago", NOW_TEXT, []),
        ("opened within 30d", "0001-01-01", []),
        ("opened within 30d", "9999-12-31T23:59:59Z", []),
    ],
)
def test_extreme_windows_and_nows(capsys, data, rule, now, expected):
    for engine in ("reference", "vector", "compiled"):
        code, doc = run_json(capsys, "eval", rule, "--data", data, "--now", now, "--engine", engine)
        assert code == 0 and doc["ids"] == expected, engine


def test_extreme_durations_as_parameters(capsys, data):
    _, doc = evaluate(capsys, data, "opened within $d", "--param", "d=3000y")
    assert doc["ids"] == [1, 4]
    code, out, err = run(capsys, "eval", "opened within $d", "--data", data, "--param", "d=" + "9" * 5000 + "d")
    assert code == 1 and "must be a duration" in err and len(err) < 500 and out == ""


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("vip and count(bought) > 9223372036854775808", "out of range for a whole number"),
        ("vip and count(bought) > 1e400", "too large for a number"),
        ("not " * 500 + "vip", "nests too deeply"),
        ("(vip and " * 300 + "vip" + ")" * 300, "nests too deeply"),
        ('city = "\ud800"', "lone surrogate"),
        ('city = "\\ud800"', "lone surrogate"),
    ],
)
def test_hostile_rules_are_rule_errors(capsys, data, rule, message):
    code, out, err = run(capsys, "check", rule, "--schema", data / "schema.toml")
    assert code == 1 and out == "" and message in err and "internal error" not in err
    code, doc = run_json(capsys, "check", rule, "--schema", data / "schema.toml")
    assert code == 1 and message in doc["error"]["message"]


def test_bad_utf8_on_stdin_is_named(capsys, data, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'city = "\xff"\n')))
    code, out, err = run(capsys, "check", "-", "--schema", data / "schema.toml")
    assert code == 1 and "byte 0xff is not valid UTF-8" in err and '  city = "\\xff"' in err and out == ""


def test_stdin_with_a_byte_order_mark(capsys, data, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO("\ufeffcity = Kyiv".encode())))
    code, out, _ = run(capsys, "check", "-", "--schema", data / "schema.toml")
    assert code == 0 and out == "city = Kyiv\n"


def test_control_characters_of_a_rule_are_escaped_in_errors(capsys, data):
    code, _, err = run(capsys, "check", "city = Kyiv and \x1b[2J\x07opnd\u202e", "--schema", data / "schema.toml")
    assert code == 1 and "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    lines = err.splitlines()
    excerpt = next(line for line in lines if "Kyiv" in line)
    carets = lines[lines.index(excerpt) + 1]
    assert excerpt == "  city = Kyiv and \\x1b[2J\\x07opnd\\u202e"
    assert excerpt[carets.index("^") :].startswith("\\x1b")


def test_no_color_means_no_escape_codes_at_all(capsys, data, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    _, out, err = run(capsys, "eval", "vip", "--data", data, *REF)  # bold count line on stdout
    _, _, error = run(capsys, "check", "opnd")  # bold red "error:" and a dim note on stderr
    assert "\x1b" not in out + err + error
    monkeypatch.delenv("NO_COLOR")
    _, out, _ = run(capsys, "eval", "vip", "--data", data, *REF)
    assert "\x1b[1m" in out  # the same output is bold when colour is allowed


def test_values_quoted_in_other_errors_are_escaped_too(capsys, data):
    code, _, err = run(capsys, "eval", "vip", "--data", data, "--explain", "\x1b[2J9", *REF)
    assert code == 2 and "\x1b" not in err and "\\x1b[2J9" in err


def test_a_negative_seed_is_a_usage_error(capsys):
    code, out, err = run(capsys, "demo", "--seed", "-1")
    assert code == 2 and out == "" and "--seed" in err and "internal error" not in err


def test_running_out_of_memory_is_said_plainly(capsys, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(cli, "cmd_check", exhausted)
    code, out, err = run(capsys, "check", "vip", "--json")
    assert code == 2 and "out of memory" in err and json.loads(out)["error"]["error"] == "MemoryError"


def test_tables_into_a_pipe_keep_their_full_width(capsys):
    """Into a file or a pipe (not a terminal), a table is laid out for its full width: rich's 80 columns cut every
    header of `segmint bench > results.txt` to "co…"."""
    from rich.table import Table

    table = Table(*(f"column {i} with a long header" for i in range(6)))
    table.add_row(*(f"value {i}" for i in range(6)))
    cli._console(stderr=False).print(table)
    out = capsys.readouterr().out
    assert "…" not in out and "column 5 with a long header" in out
