"""The ``segmint`` command: ``eval`` a rule on data, ``check`` a rule, run the ``demo``.

A thin layer over the public API (``segmint.compile``, ``Store``, ``Segment.evaluate``/``explain``): argument
parsing, loading, printing and exit codes. No evaluation logic lives here.

Output contract: data goes to stdout, human messages about errors to stderr; ``--json`` prints exactly one JSON object
to stdout (also on error: ``{"error": {...}}``). Exit codes are listed in ``EXIT_CODES`` and in ``--help``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..compiler.schema import Schema
from ..compiler.types import in_utc, iso_z
from ..dsl.errors import ParamError, RuleError, SegmintError, printable
from .segment import ENGINES, Result, Segment
from .store.columns import Store

EXIT_OK = 0
EXIT_RULE = 1  # the rule (or a $parameter for it) is wrong: the user fixes the rule
EXIT_ERROR = 2  # usage, data, schema or internal error: the user fixes the command line, the files or reports a bug

EXIT_CODES = """\
exit codes:
  0  ok
  1  rule error: the rule does not parse, names something the schema lacks, mixes types,
     or a $parameter is missing or of the wrong kind
  2  usage, data or internal error: bad arguments, missing files, a schema or data that cannot be used"""

SAMPLE_IDS = 10
DEFAULT_ENGINE = "auto"  # eval: the fused kernel when cached, else an answer at once (the kernel compiles meanwhile)
DEMO_ENGINE = "compiled"  # the demo shows what compiling costs and what it buys

# The showcase of ``segmint demo``: (name, rule, params).
TRY_RULE = "opened within 7d and city = Kyiv"


class UsageError(Exception):
    """A command line that cannot be run as given (exit 2); ``usage`` is the command's synopsis, when it helps."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors raised (not printed, then exit) so that ``--json`` can report them as JSON."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}", usage=self.format_usage())


# == entry point ===================================================================================================


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    out, err = _console(stderr=False), _console(stderr=True)
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help or --version (0)
        return stop.code if isinstance(stop.code, int) else EXIT_ERROR
    except UsageError as error:
        err.print(error.usage, end="", markup=False)
        return _fail(error, EXIT_ERROR, out, err, _wants_json(argv))
    as_json = getattr(args, "json", False)
    try:
        return args.run(args, out, err)
    except RuleError as error:
        return _fail(error, EXIT_RULE, out, err, as_json, full=args.command == "check")
    except ParamError as error:
        return _fail(error, EXIT_RULE, out, err, as_json)
    except BrokenPipeError:  # `segmint eval ... | head`: the reader has gone, which is not an error
        _silence_stdout()
        return EXIT_OK
    except (SegmintError, UsageError, OSError) as error:  # after BrokenPipeError, an OSError too
        return _fail(error, EXIT_ERROR, out, err, as_json)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        return 130
    except MemoryError as error:
        return _fail(error, EXIT_ERROR, out, err, as_json)
    except Exception as error:
        if type(error).__module__.startswith("pyarrow"):  # a file Arrow cannot read: the data's fault
            return _fail(error, EXIT_ERROR, out, err, as_json)
        code = _fail(error, EXIT_ERROR, out, err, as_json, prefix="internal error (please report it)")
        if os.environ.get("SEGMINT_DEBUG"):
            err.print_exception()
        else:
            err.print("(set SEGMINT_DEBUG=1 to see the traceback)", style="dim", markup=False)
        return code


def _console(stderr: bool) -> Console:
    """A console for stdout or stderr. ``NO_COLOR`` (https://no-color.org) turns off every style, bold and dim
    included, even where ``FORCE_COLOR`` asks for them; rich alone only drops the colours."""
    plain = bool(os.environ.get("NO_COLOR"))
    stream = sys.stderr if stderr else sys.stdout
    # Into a file or a pipe, rich would lay tables out for 80 columns and cut every header ("co…"): lay them out for
    # their full width instead (a terminal keeps its own width).
    width = None if _is_terminal(stream) else PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=True, color_system=None if plain else "auto", width=width)


PIPE_WIDTH = 240  # columns of tables written to a file or a pipe: the widest of segmint's tables fits


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no real stream (captured output) or a closed one
        return False


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether a command line that argparse refused asked for ``--json`` output (``bench --json FILE`` writes a
    file: its errors stay text)."""
    command = next((word for word in argv if not word.startswith("-")), None)
    return command in ("eval", "check", "segments") and "--json" in argv


def _fail(
    error: BaseException, code: int, out: Console, err: Console, as_json: bool, prefix: str = "error",
    full: bool = False,
) -> int:
    """Report ``error``; a rule's errors all in full when ``full`` (``check``), else the first and how many more."""
    message = _message(error)
    if isinstance(error, RuleError) and len(error.errors) > 1:
        message = error.render_all() if full else f"{message} (segmint check shows them all)"
    err.print(f"{prefix}: ", style="bold red", end="", markup=False)
    err.print(_safe(message), markup=False)
    if as_json:
        if isinstance(error, RuleError):
            detail = error.to_dict()
            detail["text"] = message
        else:
            detail = {"error": type(error).__name__, "message": message}
        _print_json(out, {"error": detail, "exit_code": code})
    return code


def _safe(text: str) -> str:
    """Text that quotes what users and data hold (rules, ids, values, file names), made unable to drive the terminal:
    characters that do not print are shown escaped, line by line."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's final flush does not complain about the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured output)
        pass


def _message(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError) and error.filename:
        return f"no such file or directory: {error.filename}"
    if isinstance(error, OSError) and error.filename:
        return f"{error.strerror or error}: {error.filename}"
    if isinstance(error, SegmintError | UsageError):
        return str(error)
    if isinstance(error, MemoryError):
        return "out of memory: this needs more memory than the machine has (try a smaller data set)"
    return f"{type(error).__name__}: {error}"


# == arguments =====================================================================================================


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _ArgumentParser(
        prog="segmint",
        description="segmint: a rule language for customer segments. Evaluate, check and try rules.",
        epilog=EXIT_CODES + '\n\nstart with:  segmint demo\nthen:        segmint eval "' + TRY_RULE + '"',
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"segmint {importlib.metadata.version('segmint')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ev = commands.add_parser(
        "eval",
        help="evaluate a rule on data (default: the built-in demo data set)",
        description=paragraph(
            "Evaluate RULE on a data set and print how many contacts match, a sample of their ids, the "
            "canonical rule and the time taken. Without --data the built-in demo data set is used (generated on first "
            "use) and --now defaults to its fixed 'now', so results are reproducible."
        ),
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    ev.add_argument("rule", metavar="RULE", help="the rule text ('-' reads it from stdin)")
    ev.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="a Parquet folder (contacts.parquet, events/*.parquet) or a saved store (with manifest.json)",
    )
    ev.add_argument("--schema", metavar="FILE", type=Path, help="schema TOML (default: DIR/schema.toml, else inferred)")
    ev.add_argument(
        "--now",
        metavar="T",
        help="evaluation time, ISO 8601 (2026-11-01 or 2026-11-01T12:00:00Z); default: the data's meta.json "
        "'now' if it has one, else the current UTC time",
    )
    ev.add_argument(
        "--param",
        metavar="K=V",
        action="append",
        default=[],
        help="a $parameter's value, converted by its type in the rule (numbers, dates, durations like 7d); repeatable",
    )
    ev.add_argument("--explain", metavar="ID", help="also print why contact ID is in or out of the segment")
    ev.add_argument(
        "--profile",
        action="store_true",
        help="also print how many contacts every part of the rule holds for, and how each 'and' narrows",
    )
    ev.add_argument(
        "--engine",
        choices=ENGINES,
        default=DEFAULT_ENGINE,
        help="evaluator: auto (the rule's compiled kernel when it is cached, else vector while it compiles), "
        f"compiled (fused Numba kernel, cached on disk), vector (generic kernels) or reference (numpy); "
        f"default {DEFAULT_ENGINE}",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    ev.add_argument("--limit", metavar="N", type=non_negative, default=SAMPLE_IDS, help="ids to show (default 10)")
    ev.set_defaults(run=cmd_eval)

    ch = commands.add_parser(
        "check",
        help="validate a rule and print its canonical form",
        description=paragraph(
            "Check RULE against a schema: print its canonical form (exit 0) or what is wrong (exit 1)."
        ),
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    ch.add_argument("rule", metavar="RULE", help="the rule text ('-' reads it from stdin)")
    ch.add_argument("--schema", metavar="FILE", type=Path, help="schema TOML (default: the demo schema)")
    ch.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    ch.set_defaults(run=cmd_check)

    de = commands.add_parser(
        "demo",
        help="generate the demo data set and evaluate a few showcase rules on it",
        description=paragraph(
            "Generate (first use only; cached) and load a synthetic contact base, evaluate a handful of "
            "showcase rules on it and print a table of the results. The cache folder is $SEGMINT_CACHE, else "
            "~/.cache/segmint."
        ),
        epilog=EXIT_CODES,
        formatter_class=formatter,
    )
    de.add_argument("--contacts", metavar="N", type=positive, default=100_000, help="contacts (default 100000)")
    de.add_argument("--seed", metavar="S", type=non_negative, default=7, help="random seed (default 7)")
    de.add_argument("--engine", choices=ENGINES, default=DEMO_ENGINE, help=f"evaluator (default {DEMO_ENGINE})")
    de.set_defaults(run=cmd_demo)

    from .live.commands import add_commands  # here, not at the top: live/commands.py uses this module's helpers

    add_commands(commands, formatter)
    from .store.commands import add_commands as add_store_commands  # likewise

    add_store_commands(commands, formatter)
    for entry in importlib.metadata.entry_points(group="segmint.commands"):  # e.g. bench (benchmarks/command.py)
        entry.load()(commands, formatter)
    return parser


def paragraph(text: str) -> str:
    return textwrap.fill(text, width=88)


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def parse_params(items: Sequence[str]) -> dict[str, str]:
    """``["k=v", "$x=7d"]`` -> ``{"k": "v", "x": "7d"}``; segmint converts the strings by each parameter's type."""
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().removeprefix("$")
        if not sep or not name:
            raise UsageError(f"--param takes NAME=VALUE, got {item!r}")
        if name in params:
            raise UsageError(f"--param {name} given twice")
        params[name] = value
    return params


def parse_now(text: str) -> dt.datetime:
    """An ISO 8601 date or timestamp as an aware UTC datetime (naive means UTC)."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
        return in_utc(value)
    except ValueError:  # not ISO 8601, or out of range once in UTC (0001-01-01T00:00+01:00)
        example = "2026-11-01 or 2026-11-01T12:00:00Z"
        raise UsageError(f"--now takes an ISO 8601 date or timestamp such as {example}, got {text!r}") from None


def _rule_text(rule: str) -> str:
    """The rule argument, or stdin for ``-``. Bytes that are not UTF-8 become lone surrogates, as in arguments
    (``surrogateescape``), and the parser names them with a caret; a byte order mark is skipped."""
    if rule != "-":
        return rule
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream without bytes underneath (tests, embedding)
        return sys.stdin.read()
    return stream.read().decode("utf-8-sig", "surrogateescape")


# == commands ======================================================================================================


def cmd_check(args: argparse.Namespace, out: Console, err: Console) -> int:
    rule = _rule_text(args.rule)
    schema = Schema.from_toml(args.schema) if args.schema else _demo().demo_schema()
    seg = Segment.compile(rule, schema)
    if args.json:
        _print_json(out, {"rule": rule, "canonical": seg.text, "params": {k: str(t) for k, t in seg.params.items()}})
    else:
        out.print(seg.text, markup=False)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, out: Console, err: Console) -> int:
    rule = _rule_text(args.rule)
    params = parse_params(args.param)
    now = parse_now(args.now) if args.now else None
    timer = _Timer()

    # Compile before loading when the schema is known up front, so a typo never waits for (or generates) data.
    seg = None
    if args.data is None:
        demo = _demo()
        schema = Schema.from_toml(args.schema) if args.schema else demo.demo_schema()
        seg = timer("compile", lambda: Segment.compile(rule, schema))
        directory = timer("load", lambda: demo.demo_dir(progress=True))
        store = timer("load", lambda: Store.from_parquet(directory, schema))
    else:
        directory = args.data
        if not directory.is_dir():
            raise UsageError(f"--data: no such directory: {directory}")
        schema = None
        if args.schema:
            schema = Schema.from_toml(args.schema)
        elif (directory / "schema.toml").is_file():
            schema = Schema.from_toml(directory / "schema.toml")
        if schema is not None:
            seg = timer("compile", lambda: Segment.compile(rule, schema))
        if (directory / "manifest.json").is_file():
            store = timer("load", lambda: Store.open(directory))
        else:
            store = timer("load", lambda: Store.from_parquet(directory, schema))
        if seg is None:  # the schema came with the store (saved) or was inferred by the loader
            seg = timer("compile", lambda: Segment.compile(rule, store.schema))
    if now is None:
        now = _meta_now(directory) or dt.datetime.now(dt.UTC)

    result = _evaluate(seg, store, now, params, args.engine, timer)
    explanation = seg.explain(store, args.explain, now=now, params=params) if args.explain is not None else None
    profiled = seg.profile(store, now=now, params=params) if args.profile else None

    ids = result.ids(args.limit).tolist()
    if args.json:
        document: dict[str, Any] = {
            "rule": rule,
            "canonical": seg.text,
            "params": params,
            "engine": result.engine,
            "count": result.count,
            "contacts": store.n_contacts,
            "now": iso_z(now),
            "ids": ids,
            "seconds": {key: timer.seconds.get(key, 0.0) for key in ("compile", "load", "evaluate")},
        }
        if explanation is not None:
            document["explain"] = {"id": args.explain, **explanation.to_dict()}
        if profiled is not None:
            document["profile"] = profiled.to_dict()
        _print_json(out, document)
        return EXIT_OK

    more = " ..." if result.count > len(ids) else ""
    out.print(
        f"{result.count:,} of {store.n_contacts:,} contacts ({_share(result.count, store.n_contacts)})",
        style="bold",
        markup=False,
    )
    if args.limit:
        out.print(_safe(f"ids:      {', '.join(map(str, ids)) or '(none)'}{more}"), markup=False)
    out.print(f"rule:     {seg.text}", markup=False)
    if params:
        out.print(_safe("params:   " + ", ".join(f"${k}={v}" for k, v in params.items())), markup=False)
    out.print(f"now:      {iso_z(now)}", markup=False)
    s = timer.seconds
    out.print(
        f"time:     compile {_duration(s.get('compile', 0))}, load {_duration(s.get('load', 0))}, "
        f"evaluate {_duration(s['evaluate'])} ({result.engine} engine)",
        markup=False,
    )
    if explanation is not None:
        verdict = "in" if explanation.value else "out"
        out.print(_safe(f"\ncontact {args.explain} is {verdict}:"), style="bold", markup=False)
        out.print(_safe(str(explanation)), markup=False)
    if profiled is not None:
        out.print("\nprofile:", style="bold", markup=False)
        out.print(_safe(str(profiled)), markup=False)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, out: Console, err: Console) -> int:
    demo = _demo()
    schema = demo.demo_schema()
    timer = _Timer()
    with err.status("preparing the demo data set (generated on first use) ..."):
        directory = timer("prepare", lambda: demo.demo_dir(contacts=args.contacts, seed=args.seed, progress=True))
        store = timer("load", lambda: Store.from_parquet(directory, schema, progress=True))
    now = _meta_now(directory) or dt.datetime.now(dt.UTC)
    s = timer.seconds
    out.print(
        f"demo data set: {store.n_contacts:,} contacts, {store.n_events:,} events, now = {iso_z(now)}",
        style="bold",
        markup=False,
    )
    out.print(f"  {directory}  (ready in {_duration(s['prepare'])}, loaded in {_duration(s['load'])})", markup=False)

    table = Table(title=f"showcase rules ({args.engine} engine)", title_justify="left")
    table.add_column("segment", no_wrap=True)
    table.add_column("rule", overflow="fold")
    table.add_column("contacts", justify="right", no_wrap=True)
    table.add_column("share", justify="right", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("compile", justify="right", no_wrap=True)
    from .demo.showcase import SHOWCASE

    for name, rule, params in SHOWCASE:
        with err.status(f"compiling and evaluating '{name}' ..."):
            timer = _Timer()
            seg = timer("compile", lambda rule=rule: Segment.compile(rule, schema))
            result = _evaluate(seg, store, now, params, args.engine, timer)
        shown = seg.text + ("  [" + ", ".join(f"${k}={v}" for k, v in params.items()) + "]" if params else "")
        count, share = f"{result.count:,}", _share(result.count, store.n_contacts)
        table.add_row(name, shown, count, share, _duration(result.seconds), _duration(timer.seconds["compile"]))
    out.print(table)
    out.print(
        "time: evaluating the rule over all contacts. compile: checking the rule"
        + (
            " and building its Numba kernel (cached on disk, so much faster from the second run on)."
            if args.engine == "compiled"
            else "."
        ),
        style="dim",
        markup=False,
    )
    size = "" if args.contacts == 100_000 and args.seed == 7 else "  (eval uses the default 100,000-contact data set)"
    out.print(f'\ntry your own rule:  segmint eval "{TRY_RULE}"{size}', markup=False)
    out.print("more: segmint eval --help, segmint check --help", markup=False)
    return EXIT_OK


# == helpers =======================================================================================================


def _demo():
    from . import demo

    return demo


def _evaluate(seg, store, now, params, engine: str, timer: _Timer) -> Result:
    """Evaluate, timing compilation and evaluation apart.

    The compiled engine builds the rule's kernel on its first run (Numba compiles it, or loads it from its disk
    cache): that run is timed as part of "compile" and the evaluation is timed on a second, warm run.
    """
    if engine == "compiled":
        timer("compile", lambda: seg.evaluate(store, now=now, params=params, engine=engine))
    result = seg.evaluate(store, now=now, params=params, engine=engine)
    timer.seconds["evaluate"] = result.seconds
    return result


class _Timer:
    """Wall time per phase; a phase may be timed in several parts, which add up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, phase: str, work: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return work()
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started


def _meta_now(directory: Path) -> dt.datetime | None:
    """The fixed 'now' a generated data set records in its meta.json, if it has one."""
    try:
        meta = json.loads((Path(directory) / "meta.json").read_text(encoding="utf-8"))
        return parse_now(meta["now"])
    except (OSError, ValueError, KeyError, TypeError, UsageError):
        return None


def _share(count: int, total: int) -> str:
    return f"{count / total:.1%}" if total else "n/a"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _print_json(out: Console, document: dict) -> None:
    # Plain write, not rich: the JSON must be exactly what json.dumps gives (no wrapping, no markup, no colour).
    text = json.dumps(document, default=_json_default, ensure_ascii=False)
    try:
        text.encode(getattr(out.file, "encoding", None) or "utf-8")
    except UnicodeEncodeError:  # a file name with undecodable bytes, or a terminal that is not UTF-8: escape
        text = json.dumps(document, default=_json_default)
    out.file.write(text + "\n")
    out.file.flush()


if __name__ == "__main__":
    sys.exit(main())
