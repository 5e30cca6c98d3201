"""``python -m bench``: run the side-by-side benchmark and write docs/benchmarks.md.

python -m bench run --quick        # a few minutes: every scenario, short runs
python -m bench run                # full mode: longer runs, more rates (bounded)
python -m bench run --servers hubbub,nchan --scenarios fanout
python -m bench run --quick --scenarios scale,levers   # hubbub's variants (issues 10, 13)
python -m bench run --quick --out /tmp/before.json --no-report   # results elsewhere
python -m bench report             # re-render the page from the last results
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import report
from bench.scenarios import CORE_SCENARIOS, FULL, PUBLISH_SERVERS, QUICK, SCENARIOS, VARIANT_SERVERS
from bench.suite import RESULTS_DIR, run_suite

ALL_SERVERS = (*PUBLISH_SERVERS, *(s for s in VARIANT_SERVERS if s not in PUBLISH_SERVERS))


def _list(text: str, allowed: tuple[str, ...]) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [i for i in items if i not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)}; choose from {allowed}")
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the suite, then write the report")
    run.add_argument("--quick", action="store_true", help="short runs (a few minutes)")
    run.add_argument(
        "--servers",
        type=lambda t: _list(t, ALL_SERVERS),
        default=list(ALL_SERVERS),
        help="comma-separated subset",
    )
    run.add_argument(
        "--scenarios",
        type=lambda t: _list(t, SCENARIOS),
        default=list(CORE_SCENARIOS),
        help="comma-separated subset (default: all but the hubbub variants' scale, levers)",
    )
    run.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="runs per figure, servers alternating (default 3; figures are medians)",
    )
    run.add_argument(
        "--out", type=Path, default=None, help="results file (default bench/results/<mode>.json)"
    )
    run.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    run.add_argument("--no-profile", action="store_true", help="skip py-spy profiles")
    run.add_argument("--no-report", action="store_true", help="only write the JSON")
    rep = sub.add_parser("report", help="write docs/benchmarks.md from a results file")
    rep.add_argument("results", nargs="?", type=Path, default=None)
    args = parser.parse_args(argv)

    if args.command == "run":
        mode = QUICK if args.quick else FULL
        results = run_suite(
            mode,
            args.servers,
            args.scenarios,
            pin=not args.no_pin,
            with_profiles=not args.no_profile,
            log=lambda line: print(line, flush=True),
            repeats=args.repeats,
            out=args.out,
        )
        print(f"results: {results}")
        if not args.no_report:
            print(f"report: {report.write(results)}")
        return 0
    results = args.results or max(RESULTS_DIR.glob("*.json"), key=lambda p: p.stat().st_mtime)
    print(f"report: {report.write(results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
