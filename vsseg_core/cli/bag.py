"""rosbag2 tools (through the `rosbags` package; no ROS install needed).

  vsseg bag from-cityscapes --data D --out BAG [--with-labels]   dataset -> bag of images
  vsseg bag segment --in BAG --out BAG2                          offline bag -> bag segmentation
  vsseg bag eval --bag BAG2                                      mIoU, TC, keyframes, latency
  vsseg bag play BAG / record --out BAG / replay --in BAG --out BAG2   live graph (ROS 2)

example:
  vsseg bag from-cityscapes --data data/synth_heldout --split val --out out/heldout.bag --with-labels
  vsseg bag segment --in out/heldout.bag --out out/heldout_seg.bag
  vsseg bag eval --bag out/heldout_seg.bag --json out/bag_eval.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vsseg_core.bags.convert import DEFAULT_TOPIC, dataset_to_bag, label_topic
from vsseg_core.bags.evaluate import evaluate_bag
from vsseg_core.bags.io import STORAGES, open_reader, topics
from vsseg_core.bags.segment import MASK_TOPIC, segment_bag
from vsseg_core.bundle import Bundle
from vsseg_core.cli.args import (add_backend_arguments, open_backend, output_file_arg,
                                 policy_arg)
from vsseg_core.cli.output import write_json
from vsseg_core.cli.plugins import BAG_COMMANDS_GROUP, add_subcommands, plugin_commands
from vsseg_core.temporal.report import policy_table
from vsseg_core.temporal.video import VideoSegmenter

NAME = "bag"
HELP = "rosbag2 tools: dataset to bag, offline bag segmentation, evaluation from bags"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bag subcommands: from-cityscapes, segment and eval here, the live ones as plugins."""
    sub = parser.add_subparsers(dest="bag_command", metavar="BAG_COMMAND", required=True,
                                parser_class=type(parser))
    for child in (_add_from_cityscapes(sub), _add_segment(sub), _add_evaluate(sub)):
        child.add_argument("--quiet", action="store_true", help="no progress bar")
    # the live ones (play, record, replay) need ROS 2
    add_subcommands(sub, plugin_commands(BAG_COMMANDS_GROUP), run_key="bag_run")


def _add_from_cityscapes(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `bag from-cityscapes` parser (run by ``_from_cityscapes``)."""
    convert = sub.add_parser("from-cityscapes", help="Cityscapes-layout sequences -> bag",
                             description="Write a dataset's sequences (`vsseg synth` output or "
                                         "Cityscapes layout) as a rosbag2 of Image messages, "
                                         "one stamp per frame at --rate.")
    convert.add_argument("--data", required=True, type=Path, help="Cityscapes-layout root")
    convert.add_argument("--split", default="train", help="split (default %(default)s)")
    convert.add_argument("--out", required=True, type=Path, metavar="BAG", help="new bag directory")
    convert.add_argument("--storage", choices=STORAGES, default="sqlite3", help="default %(default)s")
    convert.add_argument("--topic", default=DEFAULT_TOPIC, help="image topic (default %(default)s)")
    convert.add_argument("--encoding", choices=("rgb8", "bgr8"), default="rgb8", help="default %(default)s")
    convert.add_argument("--rate", type=float, default=17.0, help="frames/s of the stamps (default %(default)s)")
    convert.add_argument("--with-labels", action="store_true",
                         help="also write ground truth (mono8 trainIds) on <namespace>/labels")
    convert.set_defaults(bag_run=_from_cityscapes)
    return convert


def _add_segment(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `bag segment` parser (run by ``_segment``)."""
    segment = sub.add_parser("segment", help="segment a bag's images into a new bag",
                             description="Segment a bag's images offline (no ROS 2 needed) into a "
                                         "new bag with the node's outputs (masks, confidence, "
                                         "SegmentationInfo, diagnostics); other topics are copied.")
    segment.add_argument("--in", dest="in_bag", required=True, type=Path, metavar="BAG",
                         help="bag with images on --topic")
    segment.add_argument("--out", required=True, type=Path, metavar="BAG2", help="new bag directory")
    segment.add_argument("--model", type=Path, metavar="BUNDLE", help="default: the shipped model")
    segment.add_argument("--policy", type=policy_arg, default="adaptive", help="default %(default)s")
    segment.add_argument("--topic", default=DEFAULT_TOPIC, help="image topic (default %(default)s)")
    add_backend_arguments(segment)
    segment.add_argument("--storage", choices=STORAGES, default="sqlite3", help="default %(default)s")
    segment.add_argument("--no-images", action="store_true", help="do not copy the input images")
    segment.set_defaults(bag_run=_segment)
    return segment


def _add_evaluate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `bag eval` parser (run by ``_evaluate``)."""
    evaluate = sub.add_parser("eval", help="score a segmented bag (same JSON as `vsseg eval`)",
                              description="Score a segmented bag (from `vsseg bag segment` or "
                                          "`vsseg bag replay`): mIoU against the ground truth, "
                                          "TC, keyframe ratio, latency.")
    evaluate.add_argument("--bag", required=True, type=Path, metavar="BAG2",
                          help=f"segmented bag (with {MASK_TOPIC})")
    evaluate.add_argument("--topic", default=DEFAULT_TOPIC,
                          help="input image topic, for TC (default %(default)s)")
    evaluate.add_argument("--gt-topic", help="ground-truth topic (default: <namespace>/labels "
                                             "when the bag has it)")
    evaluate.add_argument("--json", type=output_file_arg, metavar="FILE", help="also write the record as JSON")
    evaluate.set_defaults(bag_run=_evaluate)
    return evaluate


def run(args: argparse.Namespace) -> int:
    return args.bag_run(args)


def _from_cityscapes(args: argparse.Namespace) -> int:
    counts = dataset_to_bag(args.data, args.split, args.out, storage=args.storage, topic=args.topic,
                            encoding=args.encoding, rate=args.rate, with_labels=args.with_labels,
                            progress=not args.quiet)
    print(f"wrote {args.out}: {counts['frames']} images on {args.topic} from {counts['sequences']} "
          f"sequences, {counts['labels']} label images, {counts['camera_info']} CameraInfo")
    return 0


def _segment(args: argparse.Namespace) -> int:
    bundle = Bundle.load(args.model)
    with open_backend(args, bundle) as backend, \
            VideoSegmenter(bundle, backend, args.policy, restart_on_resize=True) as segmenter:
        segmenter.warmup()
        result = segment_bag(args.in_bag, args.out, segmenter, topic=args.topic,
                             keep_images=not args.no_images, storage=args.storage,
                             progress=not args.quiet)
    if result["corruption"]:
        print(f"vsseg bag segment: warning: bag {args.in_bag}: {result['corruption']}",
              file=sys.stderr)
    latency = result["latency_ms"]
    print(f"wrote {args.out}: {result['frames']} frames segmented ({result['keyframes']} keyframes, "
          f"{result['rejected']} rejected), {result['copied']} other messages copied; "
          f"segmentation ms/frame mean {latency.get('mean', float('nan')):.1f}, "
          f"p95 {latency.get('p95', float('nan')):.1f}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    gt_topic = args.gt_topic
    if gt_topic is None:
        with open_reader(args.bag) as reader:
            candidate = label_topic(args.topic)
            gt_topic = candidate if candidate in topics(reader) else None
    record = evaluate_bag(args.bag, image_topic=args.topic, gt_topic=gt_topic)
    if record.get("corruption"):
        print(f"vsseg bag eval: warning: bag {args.bag}: {record['corruption']}", file=sys.stderr)
    print(policy_table([record]))
    print(f"{record['frames']} frames, {record['labelled_frames']} with ground truth "
          f"({gt_topic or 'none'}), {record['backend']}")
    write_json(args.json, record)
    return 0
