"""Print the Cityscapes trainId table used everywhere in vsseg (from cityscapesscripts).

/semantic_mask pixels, `vsseg segment` *_labelTrainIds.png files and every metric use these
trainIds; 255 marks pixels that are not evaluated.
"""

from __future__ import annotations

import argparse
import json

from vsseg_core.labels import IGNORE_ID, TRAIN_CLASSES, format_table

NAME = "labels"
HELP = "print the Cityscapes trainId / labelId / name / colour table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if args.json:
        table = [{"train_id": c.train_id, "label_id": c.label_id, "name": c.name,
                  "color": list(c.color)} for c in TRAIN_CLASSES]
        print(json.dumps({"classes": table, "ignore_id": IGNORE_ID}, indent=2))
    else:
        print(format_table())
    return 0
