"""``segmint bench``: the benchmark as a command of the ``segmint`` program. The command line sits below the
benchmark (which uses segmint as its users do), so it finds this command through the package's entry points
(``segmint.commands`` in pyproject.toml) instead of importing it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ..runtime import cli


def add_bench(commands: argparse._SubParsersAction, formatter: type[argparse.HelpFormatter]) -> None:
    """Add the ``bench`` command to the ``segmint`` program's commands."""
    be = commands.add_parser(
        "bench",
        help="benchmark segmint against DuckDB and Polars on the demo data (needs the bench extra)",
        description=cli.paragraph(
            "Run the benchmark suite (benchmarks/suite.py) on the demo data set: segmint compiled and reference, "
            "DuckDB and Polars answer every rule, every answer is checked equal to segmint compiled's, and the "
            "median times, ratios and the goals of the benchmark are printed. Needs pip install 'segmint[bench]'."
        ),
        epilog=cli.EXIT_CODES,
        formatter_class=formatter,
    )
    be.add_argument("--contacts", metavar="N", type=cli.positive,
                    help="contacts (default 1000000; with --live 5000000)")
    be.add_argument("--repeat", metavar="N", type=cli.positive, default=5, help="timed runs per rule (default 5)")
    be.add_argument(
        "--engines",
        metavar="LIST",
        default="compiled,reference,duckdb,polars",
        help="comma-separated engines (default compiled,reference,duckdb,polars; compiled always runs)",
    )
    be.add_argument("--seed", metavar="S", type=cli.non_negative, default=7, help="demo data seed (default 7)")
    be.add_argument("--json", metavar="FILE", type=Path, help="also write every number as JSON to FILE")
    be.add_argument("--no-cold", action="store_true", help="skip the fresh-process (cold compile) measurements")
    be.add_argument("--scaling", metavar="SIZES", help="also time the rules at these contact counts (100000,1000000)")
    be.add_argument("--plot", metavar="FILE.png", type=Path, help="with --scaling: write the log-log plot to FILE")
    be.add_argument("--live", action="store_true",
                    help="benchmark live segments instead (benchmarks/live.py): a registry of --segments segments "
                         "refreshed with no kernel compiled, then three times with every kernel compiled, stage by "
                         "stage, and DuckDB on a --sample of them")
    be.add_argument("--segments", metavar="N", type=cli.positive, default=1000, help="with --live (default 1000)")
    be.add_argument("--sample", metavar="N", type=cli.positive, default=50,
                    help="with --live: segments DuckDB refreshes too (default 50)")
    be.add_argument("--kernel-cache", metavar="DIR", type=Path,
                    help="with --live: the kernel cache the first refresh starts from (default: a new, empty one)")
    be.set_defaults(run=cmd_bench)


def cmd_bench(args: argparse.Namespace, out: Console, err: Console) -> int:
    # Imported here: the benchmark needs DuckDB, Polars and matplotlib (the bench extra), the rest of the CLI not.
    try:
        from . import run as bench
    except ImportError as error:
        raise cli.UsageError(f"segmint bench needs the bench extra ({error}): pip install 'segmint[bench]'") from None
    if args.live:
        return _live(args, out, err)
    try:
        engines = bench.parse_engines(args.engines)
        scaling = bench.parse_sizes(args.scaling) if args.scaling else ()
    except ValueError as error:
        raise cli.UsageError(f"bench: {error}") from None
    if args.plot and not scaling:
        raise cli.UsageError("--plot needs --scaling SIZES")
    options = bench.Options(
        contacts=args.contacts or 1_000_000,
        repeat=args.repeat,
        engines=engines,
        seed=args.seed,
        cold=not args.no_cold,
        scaling=scaling,
        plot=args.plot,
        json_path=args.json,
    )
    try:
        bench.run(options, out, err)
    except bench.MismatchError as error:
        err.print("MISMATCH: ", style="bold red", end="", markup=False)
        err.print(str(error), markup=False)
        return cli.EXIT_ERROR
    return cli.EXIT_OK


def _live(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        from . import live
        from .run import MismatchError
    except ImportError as error:
        raise cli.UsageError(f"segmint bench needs the bench extra ({error}): pip install 'segmint[bench]'") from None
    options = live.Options(contacts=args.contacts or 5_000_000, segments=args.segments, sample=args.sample,
                           seed=args.seed, json_path=args.json, kernel_cache=args.kernel_cache)
    try:
        live.run(options, out, err)
    except MismatchError as error:
        err.print("MISMATCH: ", style="bold red", end="", markup=False)
        err.print(str(error), markup=False)
        return cli.EXIT_ERROR
    return cli.EXIT_OK
