"""``segmint segments ...``: the segment registry (live/registry.py) from the command line.

A thin layer like runtime/cli.py, with its conventions: data to stdout, human messages to stderr, ``--json`` one JSON
object (``changes`` prints JSON lines, one change a line, always: it is made for piping into a sender), exit codes 0
ok, 1 rule error, 2 usage or other error.

The registry is the SQLite file ``--registry FILE``, by default ``segments.db`` in the current folder: a registry is
a project's state, kept next to the project like a git repository, not in a cache that may be wiped. The schema
(for compiling rules) and the store (for ``refresh`` and ``next``) come from ``--data DIR`` as for ``segmint eval``;
without ``--data`` they are the demo data set's, so ``segmint segments ...`` works right after ``segmint demo``. A
saved store is refreshed as one (partition by partition, live/partwise.py); ``refresh --scheduler ADDRESS`` evaluates
its partitions on a Dask cluster.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ...compiler.schema import Schema
from ..cli import (
    EXIT_CODES,
    EXIT_OK,
    UsageError,
    _demo,
    _meta_now,
    _print_json,
    _safe,
    non_negative,
    paragraph,
    parse_now,
    parse_params,
)
from ..segment import ENGINES
from ..store.columns import Store
from ..store.partitioned import SavedStore
from .registry import GLOBAL_CONTROL_SALT, Registry

DEFAULT_REGISTRY = Path("segments.db")
DEFAULT_CONSUMER = "default"
DEFAULT_ENGINE = "auto"


def add_commands(commands, formatter) -> None:
    """Add ``segments`` and its subcommands to the ``segmint`` parser's subcommands."""
    seg = commands.add_parser(
        "segments",
        help="live segments: a registry of named segments refreshed with who entered and left",
        description=paragraph(
            "Keep named segments live in a registry (a SQLite file): add them, refresh them at a 'now', read who "
            "entered and left, acknowledge, split, alert. Without --data the demo data set and its schema are used."
        ),
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    sub = seg.add_subparsers(dest="segments_command", required=True, metavar="COMMAND")

    def command(name: str, help: str, run, data: bool = False):
        parser = sub.add_parser(name, help=help, description=paragraph(help[0].upper() + help[1:] + "."),
                                epilog=EXIT_CODES, formatter_class=formatter)
        parser.add_argument("--registry", metavar="FILE", type=Path, default=DEFAULT_REGISTRY,
                            help=f"the registry's SQLite file (default: {DEFAULT_REGISTRY} in the current folder)")
        parser.add_argument("--data", metavar="DIR", type=Path,
                            help="a Parquet folder or a saved store (default: the demo data set)" if data else
                            "the data whose schema rules are checked against (default: the demo schema)")
        parser.add_argument("--schema", metavar="FILE", type=Path,
                            help="schema TOML (default: DIR/schema.toml, the store's, else the demo schema)")
        parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")
        parser.set_defaults(run=run)
        return parser

    p = command("add", "register segment NAME with RULE", cmd_add)
    p.add_argument("name", metavar="NAME")
    p.add_argument("rule", metavar="RULE")
    p.add_argument("--description", metavar="T", default="")
    p.add_argument("--param", metavar="K=V", action="append", default=[], help="a $parameter's value; repeatable")
    p.add_argument("--exclude-control", action="store_true",
                   help="members never include the global control group (see the control command)")

    command("list", "list the registered segments", cmd_list)
    command("show", "show one segment: rule, versions, last refresh, split, alerts", cmd_show).add_argument(
        "name", metavar="NAME")
    command("rm", "remove segment NAME (refused while other segments use it)", cmd_rm).add_argument(
        "name", metavar="NAME")

    p = command("refresh", "evaluate the segments at a 'now' and record who entered and left", cmd_refresh, True)
    p.add_argument("names", metavar="NAME", nargs="*", help="the segments to refresh (default: all)")
    p.add_argument("--now", metavar="T", help="ISO 8601; default: the data's meta.json 'now', else the current time")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE, help=f"evaluator (default {DEFAULT_ENGINE})")
    p.add_argument("--wait-for-kernels", action="store_true",
                   help="with --engine auto: compile the kernels not in the kernel cache first, then run them all")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a Dask scheduler (tcp://host:8786): a saved store's partitions are evaluated on its workers, "
                        "which open them from the same path (pip install 'segmint[dask]')")

    p = command("next", "print the first instant segment NAME changes without new data (refresh then)", cmd_next, True)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--now", metavar="T", help="ISO 8601; default: the data's meta.json 'now', else the current time")
    p.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE, help=f"evaluator (default {DEFAULT_ENGINE})")

    p = command("changes", "print who entered and left as JSON lines, after what the consumer acknowledged",
                cmd_changes)
    p.add_argument("--consumer", metavar="C", default=DEFAULT_CONSUMER, help=f"default {DEFAULT_CONSUMER!r}")
    p.add_argument("--since", metavar="SEQ", type=non_negative,
                   help="print changes of refreshes after SEQ (default: the consumer's last acknowledged)")

    p = command("ack", "record that consumer C has handled every change up to refresh SEQ", cmd_ack)
    p.add_argument("--consumer", metavar="C", required=True)
    p.add_argument("seq", metavar="SEQ", type=non_negative)

    p = command("history", "print a segment's size after each refresh", cmd_history)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--plot", metavar="FILE.png", type=Path, help="also draw the history into a PNG (matplotlib)")

    p = command("split", "split a segment into groups by a hash of the contact id", cmd_split)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--groups", metavar="A=45,B=45,control=10", required=True, help="group=percent, summing to 100")
    p.add_argument("--salt", metavar="S", help="salt of the buckets (default: the segment's name)")

    p = command("control", "set (without PERCENT: show) the global control group that segments added with "
                "--exclude-control leave out", cmd_control)
    p.add_argument("percent", metavar="PERCENT", type=float, nargs="?",
                   help="share of all contacts held out, 0 (none) up to 100 exclusive, at most two decimals")
    p.add_argument("--salt", metavar="S", default=GLOBAL_CONTROL_SALT,
                   help=f"salt of the buckets (default {GLOBAL_CONTROL_SALT!r})")

    p = command("alert", "set (without thresholds: clear) the size alerts of a segment", cmd_alert)
    p.add_argument("name", metavar="NAME")
    p.add_argument("--below", metavar="N", type=non_negative)
    p.add_argument("--above", metavar="N", type=non_negative)
    p.add_argument("--change", metavar="F", type=fraction, help="a move of more than F (0.3 or 30%%)")


def fraction(text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a fraction (0.3) or a percent (30%), got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def parse_groups(text: str) -> dict[str, float]:
    """``A=45,B=45,control=10`` -> ``{"A": 45.0, "B": 45.0, "control": 10.0}``."""
    groups: dict[str, float] = {}
    for item in text.split(","):
        name, sep, share = item.partition("=")
        name = name.strip()
        try:
            percent = float(share)
        except ValueError:
            percent = None
        if not sep or not name or percent is None:
            raise UsageError(f"--groups takes NAME=PERCENT,... (A=45,B=45,control=10), got {item!r}")
        if name in groups:
            raise UsageError(f"--groups: group {name!r} given twice")
        groups[name] = percent
    return groups


# == loading =======================================================================================================


def _schema(args: argparse.Namespace) -> Schema:
    """The schema rules are compiled against, without loading data when it is known up front."""
    if args.schema:
        return Schema.from_toml(args.schema)
    if args.data is None:
        return _demo().demo_schema()
    _check_dir(args.data)
    if (args.data / "schema.toml").is_file():
        return Schema.from_toml(args.data / "schema.toml")
    return _store(args, None).schema  # a saved store carries its schema; a Parquet folder's is inferred


def _store(args: argparse.Namespace, schema: Schema | None) -> Store | SavedStore:
    """The data: a saved store stays one (a refresh evaluates it partition by partition), Parquet is loaded."""
    if args.data is None:
        return Store.from_parquet(_demo().demo_dir(progress=True), schema)
    _check_dir(args.data)
    if (args.data / "manifest.json").is_file():
        return SavedStore.open(args.data)
    return Store.from_parquet(args.data, schema)


def _client(address: str | None):
    """A Dask client of the scheduler at ``address`` (None: no cluster). Dask is imported only here."""
    if address is None:
        return None
    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask, which is not installed: pip install 'segmint[dask]'") from None
    try:
        return Client(address, timeout=30)
    except OSError as error:
        raise UsageError(f"--scheduler: cannot reach a Dask scheduler at {address}: {error}") from None


def _check_dir(directory: Path) -> None:
    if not directory.is_dir():
        raise UsageError(f"--data: no such directory: {directory}")


def _now(args: argparse.Namespace) -> dt.datetime:
    if args.now:
        return parse_now(args.now)
    directory = args.data if args.data is not None else _demo().demo_dir(progress=True)
    return _meta_now(directory) or dt.datetime.now(dt.UTC)


def _registry(args: argparse.Namespace, schema: Schema | None = None) -> Registry:
    return Registry(args.registry, schema or _schema(args))


# == commands ======================================================================================================


def cmd_add(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _registry(args) as registry:
        definition = registry.add(args.name, args.rule, description=args.description, params=parse_params(args.param),
                                  exclude_control=args.exclude_control)
    if args.json:
        _print_json(out, _definition(definition))
    else:
        err.print(_safe(f"added {definition.name}: {definition.rule}"), markup=False)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _registry(args) as registry:
        definitions = registry.list()
        sizes = {d.name: _size(registry, d.name) for d in definitions}
    if args.json:
        _print_json(out, {"segments": [{**_definition(d), "size": sizes[d.name]} for d in definitions]})
        return EXIT_OK
    table = Table(title=f"segments in {args.registry}", title_justify="left")
    for column in ("segment", "rule", "size", "refreshed", "error"):
        table.add_column(column, overflow="fold")
    for d in definitions:
        size = sizes[d.name]
        table.add_row(d.name, _shown_rule(d), "" if size is None else f"{size:,}", d.refreshed_at or "never",
                      d.last_error or "")
    out.print(table)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _registry(args) as registry:
        definition = registry.get(args.name)
        document = {**_definition(definition), "size": _size(registry, args.name),
                    "versions": registry.versions(args.name), "used_by": registry.users(args.name)}
        split = registry.splits().get(args.name)
        document["split"] = None if split is None else {"groups": split.split.shares(), "salt": split.split.salt}
        alert = registry.alerts().get(args.name)
        document["alert"] = None if alert is None else {"below": alert.below, "above": alert.above,
                                                         "change": alert.change}
    if args.json:
        _print_json(out, document)
        return EXIT_OK
    lines = [f"{definition.name}: {_shown_rule(definition)}"]
    if definition.description:
        lines.append(f"  description: {definition.description}")
    lines.append(f"  version {definition.version}, created {definition.created_at}, updated {definition.updated_at}")
    size = document["size"]
    lines.append(f"  size {size:,} after refresh {definition.refreshed_seq} at {definition.refreshed_at}"
                 if size is not None else "  never refreshed")
    if definition.last_error:
        lines.append(f"  last error: {definition.last_error}")
    if definition.exclude_control:
        lines.append("  excludes the global control group")
    if document["used_by"]:
        lines.append(f"  used by: {', '.join(document['used_by'])}")
    if split is not None:
        groups = ", ".join(f"{g}={s:g}" for g, s in split.split.shares().items())
        lines.append(f"  split: {groups} (salt {split.split.salt!r})")
    if alert is not None:
        lines.append(f"  alert: below {alert.below}, above {alert.above}, change {alert.change}")
    out.print(_safe("\n".join(lines)), markup=False)
    return EXIT_OK


def cmd_rm(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _registry(args) as registry:
        registry.remove(args.name)
    if args.json:
        _print_json(out, {"removed": args.name})
    else:
        err.print(_safe(f"removed {args.name}"), markup=False)
    return EXIT_OK


def cmd_refresh(args: argparse.Namespace, out: Console, err: Console) -> int:
    schema = _schema(args)
    now = parse_now(args.now) if args.now else None
    with _registry(args, schema) as registry:
        if args.names:
            for name in args.names:
                registry.get(name)  # an unknown name fails before the data is loaded
        store = _store(args, schema)
        if args.scheduler is not None and not isinstance(store, SavedStore):
            raise UsageError("--scheduler refreshes a saved store (--data DIR with a manifest.json), which the "
                             "cluster's workers open from its folder")
        client = _client(args.scheduler)
        try:
            report = registry.refresh(store, now or _now(args), names=args.names or None, engine=args.engine,
                                      wait_for_kernels=args.wait_for_kernels, client=client)
        finally:
            if client is not None:
                client.close()
    segments = [{"name": s.name, "size": s.size, "entered": s.entered, "left": s.left, "cause": s.cause,
                 "alerts": list(s.alerts), "error": s.error, "next_change": s.next_change} for s in report.segments]
    if args.json:
        _print_json(out, {"seq": report.seq, "now": report.now, "segments": segments, "seconds": report.seconds,
                          "callback_errors": list(report.callback_errors)})
        return EXIT_OK
    table = Table(title=f"refresh {report.seq} at {report.now}", title_justify="left")
    for column in ("segment", "size", "entered", "left", "cause", "next change by", "alerts"):
        table.add_column(column, justify="right" if column in ("size", "entered", "left") else "left",
                         overflow="fold")
    for s in report.segments:
        if s.error:
            table.add_row(s.name, "", "", "", "error", "", s.error)
        else:
            table.add_row(s.name, f"{s.size:,}", f"+{s.entered:,}", f"-{s.left:,}", s.cause, s.next_change or "never",
                          "; ".join(s.alerts))
    out.print(table)
    stages = ", ".join(f"{stage} {seconds:.3f}s" for stage, seconds in report.seconds.items())
    err.print(f"time: {stages}", style="dim", markup=False)
    return EXIT_OK


def cmd_next(args: argparse.Namespace, out: Console, err: Console) -> int:
    schema = _schema(args)
    now = parse_now(args.now) if args.now else None
    with _registry(args, schema) as registry:
        registry.get(args.name.partition(".")[0])  # an unknown name fails before the data is loaded
        store = _store(args, schema)
        now = now or _now(args)
        found = registry.next_change(args.name, store, now, engine=args.engine)
    shown = None if found is None else found.isoformat().replace("+00:00", "Z")
    if args.json:
        _print_json(out, {"segment": args.name, "now": now.isoformat().replace("+00:00", "Z"), "next_change": shown})
    else:
        out.print(shown or "never", markup=False)
        err.print(_safe(f"{args.name} changes {'at ' + shown if shown else 'never'} unless new data arrives"),
                  style="dim", markup=False)
    return EXIT_OK


def cmd_changes(args: argparse.Namespace, out: Console, err: Console) -> int:
    """JSON lines whether or not ``--json`` is given: the command's data is a stream of changes."""
    count, last = 0, None
    with _registry(args) as registry:
        for change in registry.changes(args.consumer, args.since):
            _print_json(out, change.to_dict())
            count, last = count + 1, change.seq
    if not args.json:
        after = f"; acknowledge with: segmint segments ack --consumer {args.consumer} {last}" if count else ""
        err.print(_safe(f"{count} change(s) for consumer {args.consumer}{after}"), style="dim", markup=False)
    return EXIT_OK


def cmd_ack(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _registry(args) as registry:
        registry.ack(args.consumer, args.seq)
        acked = registry.acked(args.consumer)
    if args.json:
        _print_json(out, {"consumer": args.consumer, "acked": acked})
    else:
        err.print(_safe(f"consumer {args.consumer} has acknowledged up to refresh {acked}"), markup=False)
    return EXIT_OK


def cmd_history(args: argparse.Namespace, out: Console, err: Console) -> int:
    pyplot = _pyplot() if args.plot else None  # a missing matplotlib fails before anything else
    with _registry(args) as registry:
        points = registry.history(args.name)
    if pyplot is not None:
        _plot(pyplot, args.name, points, args.plot)
    if args.json:
        _print_json(out, {"segment": args.name, "history": [vars(p) | {"alerts": list(p.alerts)} for p in points],
                          "plot": str(args.plot) if args.plot else None})
        return EXIT_OK
    table = Table(title=f"history of {args.name}", title_justify="left")
    for column in ("seq", "now", "version", "size", "entered", "left", "cause", "alerts"):
        table.add_column(column, overflow="fold")
    for p in points:
        table.add_row(str(p.seq), p.now, str(p.version), f"{p.size:,}", f"+{p.entered:,}", f"-{p.left:,}", p.cause,
                      "; ".join(p.alerts))
    out.print(table)
    if args.plot:
        err.print(_safe(f"chart written to {args.plot}"), markup=False)
    return EXIT_OK


def cmd_split(args: argparse.Namespace, out: Console, err: Console) -> int:
    groups = parse_groups(args.groups)
    with _registry(args) as registry:
        split = registry.split(args.name, groups, salt=args.salt)
    if args.json:
        _print_json(out, {"segment": args.name, "groups": split.shares(), "salt": split.salt})
    else:
        names = ", ".join(f"{args.name}.{g}" for g in split.shares())
        err.print(_safe(f"split {args.name} into {names} (salt {split.salt!r}); refresh to fill them"), markup=False)
    return EXIT_OK


def cmd_control(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _registry(args) as registry:
        control = registry.control() if args.percent is None else registry.global_control(args.percent,
                                                                                          salt=args.salt)
    document = None if control is None else {"percent": control.percent, "salt": control.salt,
                                             "version": control.version}
    if args.json:
        _print_json(out, {"global_control": document})
    elif control is None or not control.percent:
        err.print("no global control group", markup=False)
    else:
        err.print(_safe(f"global control group: {control.percent:g}% of all contacts (salt {control.salt!r}), left "
                        "out of segments added with --exclude-control from the next refresh"), markup=False)
    return EXIT_OK


def cmd_alert(args: argparse.Namespace, out: Console, err: Console) -> int:
    with _registry(args) as registry:
        registry.alert(args.name, below=args.below, above=args.above, change=args.change)
    thresholds = {"below": args.below, "above": args.above, "change": args.change}
    if args.json:
        _print_json(out, {"segment": args.name, **thresholds})
    elif all(v is None for v in thresholds.values()):
        err.print(_safe(f"alerts of {args.name} cleared"), markup=False)
    else:
        err.print(_safe(f"alerts of {args.name}: " + ", ".join(f"{k} {v:g}" for k, v in thresholds.items()
                                                                 if v is not None)), markup=False)
    return EXIT_OK


# == helpers =======================================================================================================


def _definition(d) -> dict:
    return {"name": d.name, "rule": d.rule, "description": d.description, "params": dict(d.params),
            "version": d.version, "created_at": d.created_at, "updated_at": d.updated_at,
            "refreshed_seq": d.refreshed_seq, "refreshed_at": d.refreshed_at, "refresh_seconds": d.refresh_seconds,
            "last_error": d.last_error, "exclude_control": d.exclude_control}


def _shown_rule(d) -> str:
    return d.rule + ("  [" + ", ".join(f"${k}={v}" for k, v in d.params.items()) + "]" if d.params else "")


def _size(registry: Registry, name: str) -> int | None:
    """The size after the segment's last refresh, None before its first."""
    history = registry.history(name)
    return history[-1].size if history else None


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never a window
        from matplotlib import pyplot
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed: pip install 'segmint[bench]'") from None
    return pyplot


def _plot(pyplot, name: str, points, path: Path) -> None:
    figure, axes = pyplot.subplots(figsize=(8, 4))
    try:
        moments = [dt.datetime.fromisoformat(p.now.replace("Z", "+00:00")) for p in points]
        axes.plot(moments, [p.size for p in points], marker="o", label="size")
        axes.bar(moments, [p.entered for p in points], width=0.3, alpha=0.4, label="entered")
        axes.bar(moments, [-p.left for p in points], width=0.3, alpha=0.4, label="left")
        for moment, point in zip(moments, points, strict=True):
            if point.alerts:
                axes.annotate("!", (moment, point.size), color="red", ha="center", va="bottom")
        axes.set_title(f"segment {name}")
        axes.set_ylabel("contacts")
        axes.legend(loc="best")
        figure.autofmt_xdate()
        figure.savefig(path, dpi=100)
    finally:
        pyplot.close(figure)

