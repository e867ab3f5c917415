"""ConfusionMatrix agrees with cityscapesscripts' own pixel-level evaluator."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval
from PIL import Image

from vsseg_core.labels import (
    CLASS_NAMES,
    LABEL_ID_BY_NAME,
    label_ids_to_train_ids,
    train_ids_to_label_ids,
)
from vsseg_core.metrics import ConfusionMatrix

HEIGHT, WIDTH = 32, 64
NUM_IMAGES = 3
VOID_LABEL_IDS = [LABEL_ID_BY_NAME[name] for name in ("unlabeled", "ego vehicle", "static")]
GT_CLASSES = ["road", "sidewalk", "building", "car", "person", "sky", "bicycle"]
PRED_ONLY_CLASS = "train"  # predicted but never in the ground truth: IoU 0
ERROR_RATE = 0.3
VOID_PREDICTION_RATE = 0.05


def make_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """-> (gt labelIds, prediction trainIds), both (HEIGHT, WIDTH) uint8."""
    gt_choices = VOID_LABEL_IDS + [LABEL_ID_BY_NAME[name] for name in GT_CLASSES]
    gt_label_ids = rng.choice(np.array(gt_choices, dtype=np.uint8), size=(HEIGHT, WIDTH))
    pred_train_ids = label_ids_to_train_ids(gt_label_ids)
    wrong_choices = [CLASS_NAMES.index(name) for name in [*GT_CLASSES, PRED_ONLY_CLASS]]
    wrong = rng.random((HEIGHT, WIDTH)) < ERROR_RATE
    pred_train_ids[wrong] = rng.choice(np.array(wrong_choices, dtype=np.uint8), wrong.sum())
    pred_train_ids[rng.random((HEIGHT, WIDTH)) < VOID_PREDICTION_RATE] = 255
    return gt_label_ids, pred_train_ids


def test_per_class_iou_and_mean_match_cityscapesscripts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ours = ConfusionMatrix()
    gt_files, pred_files = [], []
    for index in range(NUM_IMAGES):
        gt_label_ids, pred_train_ids = make_pair(rng)
        ours.update(pred_train_ids, label_ids_to_train_ids(gt_label_ids))
        stem = f"testcity_000000_{index:06d}"
        gt_files.append(str(tmp_path / f"{stem}_gtFine_labelIds.png"))
        pred_files.append(str(tmp_path / f"{stem}_pred.png"))
        Image.fromarray(gt_label_ids).save(gt_files[-1])
        Image.fromarray(train_ids_to_label_ids(pred_train_ids)).save(pred_files[-1])

    args = copy.copy(cs_eval.args)  # its functions take args; the module's own stays untouched
    args.evalInstLevelScore = False
    args.evalPixelAccuracy = False
    args.JSONOutput = False
    args.quiet = True
    args.colorized = False
    result = cs_eval.evaluateImgLists(pred_files, gt_files, args)

    ours_iou = ours.iou()
    for train_id, name in enumerate(CLASS_NAMES):
        theirs = result["classScores"][name]
        if math.isnan(theirs):
            assert math.isnan(ours_iou[train_id]), name
        else:
            assert abs(ours_iou[train_id] - theirs) < 1e-9, name
    assert abs(ours.miou() - result["averageScoreClasses"]) < 1e-9

    defined = ~np.isnan(ours_iou)
    assert defined.sum() == len(GT_CLASSES) + 1
    assert ours_iou[CLASS_NAMES.index(PRED_ONLY_CLASS)] == 0.0
    assert 0.3 < ours.miou() < 0.9
