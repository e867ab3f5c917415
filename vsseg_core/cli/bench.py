"""Compare keyframe policies on the same data with the same backend: a table, a JSON record
per policy and an accuracy-versus-speed plot.

example (docs/benchmarks.md has the exact command behind its table):
  vsseg bench --data data/synth_heldout --policies per_frame,fixed:3,fixed:5,adaptive,budget:33 \\
      --json out/bench.json --plot out/policy_curve.png
"""

from __future__ import annotations

import argparse

from vsseg_core.bundle import Bundle
from vsseg_core.cli.args import open_backend, png_arg, policies_arg
from vsseg_core.cli.evaluate import add_stream_arguments, check_stream_arguments
from vsseg_core.cli.output import write_json
from vsseg_core.machine import describe_machine
from vsseg_core.temporal.evaluate import evaluate_policy
from vsseg_core.temporal.report import plot_policies, policy_table, shortfall_notes, stage_table

NAME = "bench"
HELP = "compare keyframe policies: accuracy vs speed table, JSON and plot"
DEFAULT_POLICIES = "per_frame,fixed:3,fixed:5,fixed:10,adaptive"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_stream_arguments(parser)
    parser.add_argument("--policies", type=policies_arg, default=policies_arg(DEFAULT_POLICIES),
                        help=f"comma-separated policies (default {DEFAULT_POLICIES})")
    parser.add_argument("--plot", type=png_arg, metavar="FILE.png", help="accuracy-vs-speed plot")


def run(args: argparse.Namespace) -> int:
    check_stream_arguments(args)
    bundle = Bundle.load(args.model)
    records = []
    with open_backend(args, bundle) as backend:
        for policy in args.policies:
            records.append(evaluate_policy(args.data, args.split, bundle, backend, policy,
                                           low_latency=args.low_latency,
                                           max_sequences=args.max_sequences,
                                           progress=not args.quiet))
            print(policy_table(records[-1:]).splitlines()[-1], flush=True)
    print(policy_table(records))
    print("\nmean ms per stage, by frame type")
    print(stage_table(records))
    if notes := shortfall_notes(records):
        print(notes)
    machine = describe_machine(backend.device)
    write_json(args.json, {"data": str(args.data), "model": str(bundle.root),
                           "machine": machine, "backend": records[0]["backend"],
                           "policies": records})
    if args.plot is not None:
        plot_policies(records, args.plot, title=f"{bundle.root.name} on {args.data} "
                      f"({records[0]['backend']}, {machine})")
        print(f"plot: {args.plot}")
    return 0
