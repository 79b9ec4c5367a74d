"""``segmint store build|append|compact|info`` and ``segmint eval --data`` on the store they make."""

import pyarrow as pa
import pyarrow.parquet as pq
from data import CLI_TIMESTAMP, NOW, REF, ago, run, run_json, write_cli_data

NOW_ARG = ("--now", NOW.isoformat())


def test_build_append_compact_and_eval_a_partitioned_store(tmp_path, capsys):
    (tmp_path / "parquet").mkdir()
    source = write_cli_data(tmp_path / "parquet")
    store = tmp_path / "store"
    code, info = run_json(capsys, "store", "build", store, "--from", source, "--partitions", "3")
    assert code == 0 and len(info["partitions"]) == 3 and info["version"] == 1
    assert sum(p["contacts"] for p in info["partitions"]) == 5
    code, result = run_json(capsys, "eval", "bought within 30d", "--data", store, *REF, *NOW_ARG)
    assert code == 0 and sorted(result["ids"]) == [1, 2]

    pq.write_table(pa.table({"contact_id": pa.array([6], pa.int64()), "city": pa.array(["Kyiv"]),
                             "vip": pa.array([True])}), tmp_path / "contacts.parquet")
    pq.write_table(pa.table({"contact_id": pa.array([6, 3], pa.int64()),
                             "timestamp": pa.array([ago(1), ago(2)], CLI_TIMESTAMP),
                             "amount": pa.array([5.0, 7.0])}), tmp_path / "purchases.parquet")
    purchases = f"purchase={tmp_path / 'purchases.parquet'}"
    code, appended = run_json(capsys, "store", "append", store, "--events", purchases,
                              "--contacts", tmp_path / "contacts.parquet")
    assert code == 0 and appended["version"] == 2 and appended["events"] == {"purchase": 2}
    code, result = run_json(capsys, "eval", "bought within 30d", "--data", store, *REF, *NOW_ARG)
    assert sorted(result["ids"]) == [1, 2, 3, 6]
    code, info = run_json(capsys, "store", "info", store)
    assert sum(p["deltas"] for p in info["partitions"]) >= 1 and sum(p["contacts"] for p in info["partitions"]) == 6

    code, info = run_json(capsys, "store", "compact", store)
    assert code == 0 and info["version"] == 3 and all(p["deltas"] == 0 for p in info["partitions"])
    code, result = run_json(capsys, "eval", "bought within 30d", "--data", store, *REF, *NOW_ARG)
    assert sorted(result["ids"]) == [1, 2, 3, 6]
    code, out, _ = run(capsys, "store", "info", store)
    assert code == 0 and "version 3" in out and "3 partition(s)" in out


def test_a_bad_append_from_the_command_line_is_refused_and_changes_nothing(tmp_path, capsys):
    (tmp_path / "parquet").mkdir()
    store = tmp_path / "store"
    run_json(capsys, "store", "build", store, "--from", write_cli_data(tmp_path / "parquet"))
    pq.write_table(pa.table({"contact_id": pa.array([99], pa.int64()),
                             "timestamp": pa.array([ago(1)], CLI_TIMESTAMP), "amount": pa.array([1.0])}),
                   tmp_path / "p.parquet")
    code, _, err = run(capsys, "store", "append", store, "--events", f"purchase={tmp_path / 'p.parquet'}")
    assert code == 2 and "neither exist nor come with a contact row" in err and "first at row 0: 99" in err
    code, _, err = run(capsys, "store", "append", store, "--events", "purchase")
    assert code == 2 and "TYPE=FILE" in err
    code, info = run_json(capsys, "store", "info", store)
    assert info["version"] == 1
    code, _, err = run(capsys, "store", "info", tmp_path / "nothing")
    assert code == 2 and "not a saved store" in err
