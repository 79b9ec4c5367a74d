"""``segmint segments ...``, in process: the registry from the command line, on test_cli's five-contact data.

Times are relative to NOW = 2026-11-01: contact 1 bought 5 days before and opened 1-3 days before, contact 2 bought
10 days before (see test_cli.py).
"""

from __future__ import annotations

import json
import sys

import pytest
from data import NOW_TEXT, run, run_json

LATER = "2026-11-22T00:00:00Z"  # 21 days on: contact 2's purchase is 31 days old, contact 1's open 22 days


@pytest.fixture
def seg(tmp_path, data, capsys):
    """``seg(*argv)`` runs ``segmint segments *argv --registry tmp/segments.db --data DATA``."""
    registry = tmp_path / "segments.db"

    def run_segments(*argv: str, json_: bool = False, with_data: bool = True):
        extra = ["--registry", registry, *(["--data", data] if with_data else [])]
        if json_:
            return run_json(capsys, "segments", *argv, *extra)
        return run(capsys, "segments", *argv, *extra)

    return run_segments


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_a_month_from_the_shell(seg):
    """add, refresh, changes | ack, refresh at a later now, history: the shell scenario of the issue."""
    assert seg("add", "buyers", "bought within 30d", "--description", "bought this month")[0] == 0
    assert seg("add", "recent", "opened within 7d")[0] == 0

    code, report = seg("refresh", "--now", NOW_TEXT, "--engine", "reference", json_=True)
    assert code == 0 and report["seq"] == 1 and report["now"] == NOW_TEXT
    by_name = {s["name"]: s for s in report["segments"]}
    assert (by_name["buyers"]["size"], by_name["buyers"]["entered"], by_name["buyers"]["cause"]) == (2, 2, "new")
    assert (by_name["recent"]["size"], by_name["recent"]["entered"]) == (1, 1)

    code, out, err = seg("changes", "--consumer", "mailer")
    assert code == 0
    assert lines(out) == [
        {"seq": 1, "segment": "buyers", "id": 1, "change": "entered", "now": NOW_TEXT, "cause": "new"},
        {"seq": 1, "segment": "buyers", "id": 2, "change": "entered", "now": NOW_TEXT, "cause": "new"},
        {"seq": 1, "segment": "recent", "id": 1, "change": "entered", "now": NOW_TEXT, "cause": "new"},
    ]
    assert "ack --consumer mailer 1" in err  # how to acknowledge, on stderr
    assert seg("changes", "--consumer", "mailer")[1] == out  # not acknowledged: delivered again
    assert seg("ack", "--consumer", "mailer", "1")[0] == 0
    assert seg("changes", "--consumer", "mailer")[1] == ""

    code, out, _ = seg("refresh", "--now", LATER, "--engine", "reference")
    assert code == 0 and "refresh 2" in out and "-1" in out and "time" in out
    code, out, _ = seg("changes", "--consumer", "mailer")
    assert lines(out) == [
        {"seq": 2, "segment": "buyers", "id": 2, "change": "left", "now": LATER, "cause": "time"},
        {"seq": 2, "segment": "recent", "id": 1, "change": "left", "now": LATER, "cause": "time"},
    ]
    assert len(lines(seg("changes", "--consumer", "other")[1])) == 5  # each consumer has its own position
    assert lines(seg("changes", "--consumer", "other", "--since", "1")[1]) == lines(out)

    code, doc = seg("history", "buyers", json_=True)
    assert code == 0
    assert [(p["seq"], p["size"], p["entered"], p["left"], p["cause"]) for p in doc["history"]] == [
        (1, 2, 2, 0, "new"), (2, 1, 0, 1, "time")]
    code, out, _ = seg("history", "buyers")
    assert code == 0 and LATER in out


def test_add_list_show_rm(seg):
    assert seg("add", "kyiv", "city = Kyiv", json_=True)[1]["version"] == 1
    code, doc = seg("add", "views", "bought within $d", "--param", "d=30d", json_=True)
    assert code == 0 and doc["params"] == {"d": "30d"}
    assert seg("add", "kyiv_buyers", "kyiv and bought")[0] == 0
    code, doc = seg("list", json_=True)
    assert [(s["name"], s["size"]) for s in doc["segments"]] == [("kyiv", None), ("kyiv_buyers", None),
                                                               ("views", None)]
    code, out, _ = seg("list")
    assert code == 0 and "kyiv_buyers" in out and "$d=30d" in out and "never" in out
    code, doc = seg("show", "kyiv", json_=True)
    assert code == 0 and doc["used_by"] == ["kyiv_buyers"] and doc["rule"] == "city = Kyiv"

    code, doc = seg("rm", "kyiv", json_=True)  # used by kyiv_buyers: refused, naming it
    assert code == 2 and "kyiv_buyers" in doc["error"]["message"]
    assert seg("rm", "kyiv_buyers")[0] == 0
    assert seg("rm", "kyiv")[0] == 0
    assert [s["name"] for s in seg("list", json_=True)[1]["segments"]] == ["views"]


def test_split_and_alert_show_in_refresh_and_history(seg):
    seg("add", "everyone", "true")
    code, doc = seg("split", "everyone", "--groups", "A=50,B=50", "--salt", "s1", json_=True)
    assert code == 0 and doc == {"segment": "everyone", "groups": {"A": 50, "B": 50}, "salt": "s1"}
    assert seg("alert", "everyone", "--below", "10", json_=True)[1]["below"] == 10
    code, report = seg("refresh", "--now", NOW_TEXT, "--engine", "reference", json_=True)
    by_name = {s["name"]: s for s in report["segments"]}
    assert by_name["everyone"]["alerts"] == ["size 5 is below 10"]
    assert by_name["everyone.A"]["size"] + by_name["everyone.B"]["size"] == 5
    assert seg("history", "everyone", json_=True)[1]["history"][0]["alerts"] == ["size 5 is below 10"]
    assert seg("alert", "everyone")[0] == 0  # no thresholds: cleared
    report = seg("refresh", "--now", LATER, "--engine", "reference", json_=True)[1]
    assert all(not s["alerts"] for s in report["segments"])


def test_history_plot(seg, tmp_path):
    seg("add", "buyers", "bought within 30d")
    for now in (NOW_TEXT, LATER):
        seg("refresh", "--now", now, "--engine", "reference")
    chart = tmp_path / "buyers.png"
    code, doc = seg("history", "buyers", "--plot", chart, json_=True)
    assert code == 0 and doc["plot"] == str(chart)
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_history_plot_without_matplotlib_is_a_clear_error(seg, tmp_path, monkeypatch):
    seg("add", "buyers", "bought within 30d")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    code, out, err = seg("history", "buyers", "--plot", tmp_path / "x.png")
    assert code == 2 and "matplotlib" in err and out == ""


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["add", "bad", "opened > 2 withn 90d"], 1, ["^"]),  # a rule error: caret, exit 1
        (["add", "p", "bought within $d"], 2, ["$d"]),  # a missing parameter
        (["add", "city", "true"], 2, ["city"]),  # a name of the schema
        (["show", "nope"], 2, ["nope"]),
        (["history", "nope"], 2, ["nope"]),
        (["refresh", "nope"], 2, ["nope"]),
        (["split", "x", "--groups", "A=fifty"], 2, ["--groups"]),
        (["alert", "x", "--change", "-1"], 2, ["--change"]),
        (["ack", "1"], 2, ["--consumer"]),
        (["refresh", "--now", "yesterday"], 2, ["--now"]),
    ],
)
def test_bad_input_is_a_clear_error(seg, argv, code, words):
    got, out, err = seg(*argv)
    assert got == code and out == ""
    assert all(word in err for word in words), err


def test_json_errors_are_one_object(seg):
    code, doc = seg("show", "nope", json_=True)
    assert code == 2 and doc["error"]["error"] == "RegistryError" and doc["exit_code"] == 2
    code, doc = seg("add", "bad", "opened > 2 withn 90d", json_=True)
    assert code == 1 and "^" in doc["error"]["text"]


def test_without_data_the_demo_and_the_current_folder(capsys, small_demo, tmp_path, monkeypatch):
    """After ``segmint demo``: no --data, no --registry: the demo's schema, data and now; segments.db here."""
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "segments", "add", "churned", "bought and not bought within 90d")
    assert code == 0, err
    assert (tmp_path / "segments.db").is_file()
    assert not small_demo.exists()  # adding checks the rule against the demo schema: no data generated
    code, doc = run_json(capsys, "segments", "refresh", "--engine", "vector")
    assert code == 0 and doc["now"] == NOW_TEXT
    assert 0 < doc["segments"][0]["size"] < 2_000


def test_next_and_the_refresh_report(seg):
    seg("add", "recent", "opened within 7d")  # contact 1's last open, a day before NOW, leaves 6 days on
    code, doc = seg("next", "recent", "--now", NOW_TEXT, "--engine", "reference", json_=True)
    assert code == 0 and doc == {"segment": "recent", "now": NOW_TEXT, "next_change": "2026-11-07T00:00:00Z"}
    code, out, err = seg("next", "recent", "--now", NOW_TEXT, "--engine", "reference")
    assert code == 0 and out == "2026-11-07T00:00:00Z\n" and "unless new data" in err
    report = seg("refresh", "--now", NOW_TEXT, "--engine", "reference", json_=True)[1]
    assert report["segments"][0]["next_change"] <= "2026-11-07T00:00:00Z"  # the cheap bound: never later
    seg("add", "kyiv", "city = Kyiv")
    assert seg("next", "kyiv", "--now", NOW_TEXT, json_=True)[1]["next_change"] is None
    assert seg("next", "nope")[0] == 2


def test_the_global_control_group_from_the_shell(seg):
    """Contacts 1-5 have buckets 4530, 2343, 3262, 8941, 7921 for the default salt: 40% holds out 2 and 3."""
    assert seg("control", json_=True)[1] == {"global_control": None}
    code, shown = seg("control", "40", json_=True)
    assert code == 0 and shown == {"global_control": {"percent": 40.0, "salt": "global_control", "version": 1}}
    assert seg("add", "local", "city in (Kyiv, Lviv)", "--exclude-control")[0] == 0
    assert seg("add", "everyone_local", "city in (Kyiv, Lviv)")[0] == 0
    assert seg("show", "local", json_=True)[1]["exclude_control"] is True
    assert "excludes the global control group" in seg("show", "local")[1]
    assert seg("refresh", "--now", NOW_TEXT, "--engine", "reference")[0] == 0
    entered = {(c["segment"], c["id"]) for c in lines(seg("changes", "--consumer", "m")[1])}
    assert entered == {("local", 1), ("local", 5), *(("everyone_local", i) for i in (1, 2, 3, 5))}
    code, _, err = seg("control", "100")
    assert code == 2 and "up to (not including) 100" in err


def test_refresh_can_wait_for_its_kernels(seg, tmp_path, monkeypatch):
    """``--wait-for-kernels``: the kernels compile first (the ``kernels`` stage), the members are the same."""
    from segmint.runtime.engines.compiled import COMPILED, KernelCache

    monkeypatch.setenv("SEGMINT_KERNEL_CACHE", str(tmp_path / "kernels"))
    monkeypatch.setattr(COMPILED, "kernels", KernelCache())
    seg("add", "recent", "opened within 7d")
    code, waited = seg("refresh", "--now", NOW_TEXT, "--wait-for-kernels", json_=True)
    assert code == 0 and waited["seconds"]["kernels"] > 0
    assert [(s["name"], s["size"]) for s in waited["segments"]] == [("recent", 1)]  # contact 1 opened a day before
