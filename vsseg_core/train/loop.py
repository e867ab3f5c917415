"""The training loop: cross-entropy (ignore 255) + auxiliary loss, AdamW with warm-up and
poly learning rate, checkpoints with exact resume, progress bar, validation mIoU."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vsseg_core.data.cityscapes import CityscapesDataset, FrameRecord
from vsseg_core.errors import VssegError
from vsseg_core.labels import CLASS_NAMES, IGNORE_ID
from vsseg_core.machine import describe_machine
from vsseg_core.metrics import ConfusionMatrix
from vsseg_core.model.pspnet import ModelConfig, PSPNet
from vsseg_core.runtime.processing import Preprocessor, postprocess
from vsseg_core.train.data import TrainBatches, class_weights, iterate_batches, labelled_frames

CHECKPOINT = "checkpoint.pt"
# What the loss of a checkpointed run means. Raise it whenever the objective changes, so --resume
# never continues a run under a different loss. 2: auxiliary loss on the stride-4 grid
# (checkpoints without the key scored it at full resolution).
LOSS_VERSION = 2


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (with the data, it determines the weights)."""

    data: str
    split: str = "train"
    val_data: str | None = None
    val_split: str = "val"
    model: ModelConfig = field(default_factory=ModelConfig)
    iterations: int = 2000
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    aux_weight: float = 0.4
    class_weight_power: float = 0.5
    checkpoint_every: int = 100
    seed: int = 0
    init: str | None = None
    """Weights to start from (a bundle directory or its weights.pt); None: from scratch."""

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise VssegError(f"--{name.replace('_', '-')} must be >= 1")
        if not 0 < self.lr < math.inf:
            raise VssegError(f"--lr must be a positive number, got {self.lr}")
        if self.seed < 0:
            raise VssegError(f"--seed must be >= 0, got {self.seed}")


def _changed_options(saved: dict, now: dict, prefix: str = "") -> str:
    """'name: saved -> now' for every option that differs between two ``asdict(TrainConfig)``."""
    changes = []
    for key in sorted(saved.keys() | now.keys()):
        old, new = saved.get(key), now.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes.append(_changed_options(old, new, f"{prefix}{key}."))
        elif old != new:
            changes.append(f"{prefix}{key}: {old!r} -> {new!r}")
    return ", ".join(c for c in changes if c)


def learning_rate(config: TrainConfig, iteration: int) -> float:
    """Linear warm-up, then poly (power 0.9) decay to 0 at ``config.iterations``."""
    if iteration < config.warmup:
        return config.lr * (iteration + 1) / config.warmup
    progress = (iteration - config.warmup) / max(1, config.iterations - config.warmup)
    return config.lr * (1 - min(progress, 1.0)) ** 0.9


def machine_description(device: torch.device) -> str:
    """Where training ran (``describe_machine``, the GPU for CUDA) and torch's version."""
    return f"{describe_machine(str(device))}, torch {torch.__version__}"


@torch.no_grad()
def evaluate(model: PSPNet, dataset: CityscapesDataset, device: torch.device,
             limit: int | None = None, progress: bool = True) -> ConfusionMatrix:
    """mIoU of ``model`` on the labelled frames of ``dataset``, with the same pre- and
    post-processing every runtime backend uses."""
    model.eval()
    preprocess = Preprocessor(model.config.input_size)
    confusion = ConfusionMatrix()
    frames = labelled_frames(dataset)[:limit]
    for record in tqdm(frames, desc="validation", unit="frame", mininterval=2.0, leave=False,
                       disable=not progress):
        gt = record.load_labels()
        assert gt is not None
        image, geometry = preprocess(record.load_image())
        logits = model(torch.from_numpy(image).to(device)).float().cpu().numpy()
        confusion.update(postprocess(logits, geometry)[0], gt)
    return confusion


def default_workers() -> int:
    """Data-loading processes when none are asked for: none on CPU (the loader would take cores
    from the network), up to 8 with CUDA (where one process cannot feed the GPU)."""
    if not torch.cuda.is_available():
        return 0
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False,
          stop_after: int | None = None, progress: bool = True, command: str = "",
          workers: int | None = None) -> tuple[PSPNet, dict | None]:
    """Train, checkpointing into ``run_dir``; returns the model and its provenance record.

    ``stop_after`` ends the run after that iteration with a checkpoint (provenance None), so
    long trainings can run in slices and continue with ``resume``. ``workers``: data-loading
    processes (None: ``default_workers()``); they change the speed, never the weights.
    """
    workers = default_workers() if workers is None else workers
    run_dir = Path(run_dir)
    _check_run_arguments(run_dir, workers, stop_after)
    ckpt_path = run_dir / CHECKPOINT
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(config.seed)
    frames = labelled_frames(CityscapesDataset(config.data, config.split))
    val = CityscapesDataset(config.val_data, config.val_split) if config.val_data else None
    model = PSPNet(config.model)
    if config.init is not None and not resume:
        load_initial_weights(model, config.init)  # a wrong --init is refused before any write
    run_dir.mkdir(parents=True, exist_ok=True)  # once the data is known to be there
    model = model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start, seconds = 0, 0.0
    if resume:
        start, seconds = _load_checkpoint(ckpt_path, config, model, optimizer, device)
    elif ckpt_path.exists():
        raise VssegError(f"{ckpt_path} exists; pass --resume to continue it or choose another --out")
    end = config.iterations if stop_after is None else min(stop_after, config.iterations)
    seconds = _run_iterations(config, frames, model, optimizer, run_dir, device, start=start,
                              end=end, seconds=seconds, workers=workers, progress=progress)
    if end < config.iterations:
        return model.eval(), None
    provenance = _provenance(config, command, seconds, device)
    if val is not None:
        provenance["val"] = _validation_record(config, model, val, device, progress)
    model.eval()
    return model, provenance


def _check_run_arguments(run_dir: Path, workers: int, stop_after: int | None) -> None:
    """VssegError for a wrong --out, --workers or --stop-after, before any slow work."""
    if workers < 0:
        raise VssegError(f"--workers must be >= 0, got {workers}")
    if stop_after is not None and stop_after < 1:
        raise VssegError(f"--stop-after must be >= 1, got {stop_after}")
    if run_dir.exists() and not run_dir.is_dir():
        raise VssegError(f"--out {run_dir} exists and is not a directory; choose another --out")


def _load_checkpoint(ckpt_path: Path, config: TrainConfig, model: PSPNet,
                     optimizer: torch.optim.Optimizer, device: torch.device) -> tuple[int, float]:
    """Restore model, optimizer and torch RNG from ``ckpt_path`` for ``--resume``; returns
    (iterations done, training seconds so far). VssegError if it is missing or was written
    with another loss or other options."""
    if not ckpt_path.is_file():
        raise VssegError(f"--resume: {ckpt_path} does not exist; start without --resume")
    state = torch.load(ckpt_path, map_location=device, weights_only=False)
    if state.get("loss_version", 1) != LOSS_VERSION:
        raise VssegError(f"--resume: {ckpt_path} was written by a vsseg whose training loss "
                         f"differs from this one's (loss version {state.get('loss_version', 1)}, "
                         f"now {LOSS_VERSION}); continuing would change the objective mid-run. "
                         "Start a new run with another --out")
    if changed := _changed_options(state["config"], asdict(config)):
        raise VssegError(f"--resume: {ckpt_path} was written with other options ({changed}); "
                         "use the same options or a new --out")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])  # dropout masks continue as if never stopped
    return state["iteration"], state["seconds"]


def load_initial_weights(model: PSPNet, source: str | Path) -> None:
    """Start ``model`` from the weights of a bundle (its weights.pt) or a weights file: the
    fine-tuning recipe, e.g. an output-stride-16 model continued at stride 8 (dilation changes,
    weight shapes do not). The training-only auxiliary head may be missing (bundles drop it).
    VssegError if the file is missing or its weights do not fit the architecture."""
    path = Path(source)
    path = path / "weights.pt" if path.is_dir() else path
    if not path.is_file():
        raise VssegError(f"--init {source}: no weights file at {path}; pass a bundle directory "
                         "or a weights.pt")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise VssegError(f"--init {source}: its weights do not fit this architecture "
                         f"({str(exc).splitlines()[1].strip()}); use the architecture options "
                         "it was trained with (model.json `architecture`)") from None
    missing = [k for k in missing if not k.startswith("aux.")]
    if missing or unexpected:
        raise VssegError(f"--init {source}: weights do not fit this architecture (missing "
                         f"{missing[:3]}, unexpected {unexpected[:3]}); use the architecture "
                         "options it was trained with (model.json `architecture`)")


def _run_iterations(config: TrainConfig, frames: list[FrameRecord], model: PSPNet,
                    optimizer: torch.optim.Optimizer, run_dir: Path, device: torch.device, *,
                    start: int, end: int, seconds: float, workers: int, progress: bool) -> float:
    """Iterations [start, end): one optimizer step each, a line in train_log.jsonl, a checkpoint
    every ``config.checkpoint_every`` and at ``end``. Returns the training seconds, ``seconds``
    included. The log, the progress bar and the batch stream are closed however it ends."""
    weights = class_weights(frames, config.class_weight_power).to(device)
    batches = TrainBatches(frames, config.model.input_size, config.batch_size, config.seed)
    with contextlib.ExitStack() as stack:
        # line-buffered: tail -f works
        log = stack.enter_context(open(run_dir / "train_log.jsonl", "a", buffering=1))
        bar = stack.enter_context(tqdm(total=config.iterations, initial=start, desc="vsseg train",
                                       unit="it", disable=not progress, mininterval=2.0))
        model.train()
        stream = stack.enter_context(contextlib.closing(iterate_batches(
            batches, start, end, workers=workers, pin_memory=device.type == "cuda")))
        tic = time.perf_counter()
        for iteration, (images, labels) in zip(range(start, end), stream):
            loss = _optimizer_step(config, model, optimizer, iteration, images.to(device),
                                   labels.to(device), weights).item()
            seconds += time.perf_counter() - tic  # the wait for this batch included, bookkeeping not
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{learning_rate(config, iteration):.1e}")
            log.write(json.dumps({"iteration": iteration + 1, "loss": round(loss, 5),
                                  "seconds": round(seconds, 1)}) + "\n")
            if (iteration + 1) % config.checkpoint_every == 0 or iteration + 1 == end:
                _save(run_dir / CHECKPOINT, model, optimizer, config, iteration + 1, seconds)
            tic = time.perf_counter()
    return seconds


def _optimizer_step(config: TrainConfig, model: PSPNet, optimizer: torch.optim.Optimizer,
                    iteration: int, images: torch.Tensor, labels: torch.Tensor,
                    weights: torch.Tensor) -> torch.Tensor:
    """One AdamW step at ``iteration``'s learning rate on images (N, 3, H, W) and labels
    (N, H, W) on the model's device; returns the loss (scalar tensor). VssegError, before the
    step, if the loss is not finite."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(config, iteration)
    loss = segmentation_loss(model, images, labels, weights, config.aux_weight)
    if not torch.isfinite(loss):
        raise VssegError(f"loss became {loss.item()} at iteration {iteration}; lower --lr")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def _provenance(config: TrainConfig, command: str, seconds: float, device: torch.device) -> dict:
    """How the weights were made: command, options, training seconds, machine and data."""
    return {
        "command": command,
        "train_config": asdict(config),
        "training_seconds": round(seconds, 1),
        "machine": machine_description(device),
        "data": data_description(config.data),
    }


def _validation_record(config: TrainConfig, model: PSPNet, val: CityscapesDataset,
                       device: torch.device, progress: bool) -> dict:
    """mIoU and per-class IoU (None for classes absent from both) on the validation data."""
    confusion = evaluate(model, val, device, progress=progress)
    return {
        "data": data_description(config.val_data), "split": config.val_split,
        "miou": confusion.miou(),
        "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(CLASS_NAMES, confusion.iou())},
    }


def segmentation_loss(model: PSPNet, images: torch.Tensor, labels: torch.Tensor,
                      weights: torch.Tensor | None, aux_weight: float) -> torch.Tensor:
    """The training loss of images (N, 3, H, W) float RGB 0..255 and labels (N, H, W) int64:
    class-weighted (``weights`` (classes,) or None) cross-entropy of the logits, ignoring 255,
    plus ``aux_weight`` times that of the auxiliary logits on the stride-4 grid."""
    logits, aux = model.forward_train(images)
    loss = F.cross_entropy(logits, labels, weight=weights, ignore_index=IGNORE_ID)
    if aux is not None:
        loss = loss + aux_weight * F.cross_entropy(aux, model.aux_labels(labels), weight=weights,
                                                   ignore_index=IGNORE_ID)
    return loss


def _save(path: Path, model: PSPNet, optimizer: torch.optim.Optimizer, config: TrainConfig,
          iteration: int, seconds: float) -> None:
    """Write the checkpoint ``--resume`` continues from, atomically (via a .tmp file)."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "config": asdict(config), "iteration": iteration, "seconds": seconds,
                "loss_version": LOSS_VERSION, "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(path)


def data_description(root: str | None) -> dict:
    """The dataset path and, for synthetic data, the generator options from synth.json."""
    if root is None:
        return {}
    manifest = Path(root) / "synth.json"
    info: dict = {"path": str(root)}
    if manifest.is_file():
        synth = json.loads(manifest.read_text())
        info["synth"] = {"generator": synth.get("generator"), "config": synth.get("config")}
    return info
