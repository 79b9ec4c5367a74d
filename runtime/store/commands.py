"""``segmint store ...``: saved stores that take new data, from the command line (runtime/store/partitioned.py).

A thin layer like runtime/cli.py, with its conventions: data to stdout, human messages to stderr, ``--json`` one JSON
object, exit codes 0 ok, 2 usage or data error. ``build`` saves a Parquet folder as a partitioned store, ``append``
adds Parquet files of events and contacts durably, ``compact`` merges the deltas, ``info`` describes the store.
``segmint eval --data DIR`` (and ``segments refresh --data DIR``) read such a store as any saved store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from ...compiler.schema import Schema
from ...dsl.errors import DataError
from ..cli import EXIT_CODES, EXIT_OK, UsageError, _print_json, paragraph, positive
from .columns import Store
from .partitioned import SavedStore


def add_commands(commands, formatter) -> None:
    """Add ``store`` and its subcommands to the ``segmint`` parser's subcommands."""
    parent = commands.add_parser(
        "store",
        help="saved stores that take new data: build, append, compact, info",
        description=paragraph(
            "Save a Parquet folder as a store of partitions, append events and contacts to it durably (each append "
            "is on disk when the command returns), compact it, describe it. segmint eval --data DIR reads it."
        ),
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    sub = parent.add_subparsers(dest="store_command", required=True, metavar="COMMAND")

    def command(name: str, help: str, run):
        parser = sub.add_parser(name, help=help, description=paragraph(help[0].upper() + help[1:] + "."),
                                epilog=EXIT_CODES, formatter_class=formatter)
        parser.add_argument("directory", metavar="DIR", type=Path, help="the saved store's folder")
        parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")
        parser.set_defaults(run=run)
        return parser

    p = command("build", "save the Parquet folder PARQUET_DIR as a store of partitions in DIR", cmd_build)
    p.add_argument("--from", dest="source", metavar="PARQUET_DIR", type=Path, required=True,
                   help="contacts.parquet and events/<type>.parquet, as for segmint eval --data")
    p.add_argument("--schema", metavar="FILE", type=Path, help="schema TOML (default: PARQUET_DIR/schema.toml, else "
                   "inferred)")
    p.add_argument("--partitions", metavar="N", type=positive, default=1, help="partitions (default 1)")

    p = command("append", "append events and contact rows (Parquet files) to the store in DIR", cmd_append)
    p.add_argument("--events", metavar="TYPE=FILE", action="append", default=[],
                   help="a Parquet file of events of TYPE; repeatable")
    p.add_argument("--contacts", metavar="FILE", type=Path, help="a Parquet file of contact rows (new or upserted)")

    command("compact", "merge every partition's deltas into a new base", cmd_compact)
    command("info", "describe the store: partitions, version, contacts, events, deltas, bytes", cmd_info)


def _read(path: Path) -> object:
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        return pq.read_table(path)
    except Exception as error:  # pyarrow raises what the damaged bytes lead it to
        raise DataError(f"cannot read this Parquet file: {error}", source=str(path)) from None


def cmd_build(args: argparse.Namespace, out: Console, err: Console) -> int:
    if not args.source.is_dir():
        raise UsageError(f"--from: no such directory: {args.source}")
    schema = Schema.from_toml(args.schema) if args.schema else None
    store = Store.from_parquet(args.source, schema, progress=True)
    saved = SavedStore.create(args.directory, store, partitions=args.partitions)
    return _print_info(saved, out, args.json)


def cmd_append(args: argparse.Namespace, out: Console, err: Console) -> int:
    events = {}
    for item in args.events:
        name, sep, file = item.partition("=")
        if not sep or not name or not file:
            raise UsageError(f"--events takes TYPE=FILE, got {item!r}")
        if name in events:
            raise UsageError(f"--events {name} given twice")
        events[name] = _read(Path(file))
    contacts = _read(args.contacts) if args.contacts else None
    if not events and contacts is None:
        raise UsageError("nothing to append: give --events TYPE=FILE and/or --contacts FILE")
    saved = _open(args.directory)
    before = saved.version
    version = saved.append(events=events, contacts=contacts)
    document = {"folder": str(args.directory), "version": version, "appended": version != before,
                "events": {name: table.num_rows for name, table in events.items()},
                "contacts": contacts.num_rows if contacts is not None else 0}
    if args.json:
        _print_json(out, document)
    else:
        counts = ", ".join(f"{n:,} {name}" for name, n in document["events"].items())
        out.print(f"appended {counts or 'no events'} and {document['contacts']:,} contact rows: version {version}",
                  markup=False)
    return EXIT_OK


def cmd_compact(args: argparse.Namespace, out: Console, err: Console) -> int:
    saved = _open(args.directory)
    saved.compact()
    return _print_info(saved, out, args.json)


def cmd_info(args: argparse.Namespace, out: Console, err: Console) -> int:
    return _print_info(_open(args.directory), out, args.json)


def _open(directory: Path) -> SavedStore:
    if not (directory / "manifest.json").is_file():
        raise UsageError(f"not a saved store (no manifest.json): {directory}")
    return SavedStore.open(directory)


def _print_info(saved: SavedStore, out: Console, as_json: bool) -> int:
    info = saved.info()
    if as_json:
        _print_json(out, info)
        return EXIT_OK
    out.print(f"{info['folder']}: format {info['format']}, version {info['version']}, "
              f"{len(info['partitions'])} partition(s)", style="bold", markup=False)
    table = Table("partition", "contacts", "base contacts", "base events", "base bytes", "deltas", "delta events",
                  "delta bytes")
    for k, part in enumerate(info["partitions"]):
        table.add_row(str(k), f"{part['contacts']:,}", f"{part['base_contacts']:,}", f"{part['base_events']:,}",
                      f"{part['base_bytes']:,}",
                      str(part["deltas"]), f"{part['delta_events']:,}", f"{part['delta_bytes']:,}")
    out.print(table)
    return EXIT_OK
