"""OpenMMLab mmsegmentation PSPNet checkpoints -> vsseg networks with identical logits.

mmseg's PSPNet (``EncoderDecoder`` + ``ResNetV1c`` or ``ResNet`` + ``PSPHead``) is vsseg's
PSPNet with a deep stem (``V1c``), undilated second convolutions in basic blocks, exact adaptive
pyramid pooling, ``channels``-wide pyramid branches and the plain classifier (no decoder); key
names map one to one (``mmseg_key_map``). The auxiliary FCN head is training-only and dropped.
Key names are the same in mmseg 0.x and 1.x; checkpoints keep them under ``state_dict``.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from vsseg_core.errors import VssegError
from vsseg_core.labels import NUM_CLASSES
from vsseg_core.model.pspnet import ModelConfig, PSPNet


class CheckpointError(VssegError, ValueError):
    """A checkpoint cannot be read, or does not match the architecture it was checked against."""


@dataclass(frozen=True)
class MmsegConfig:
    """The architecture an mmseg config file sets (at mmseg's default widths)."""

    backbone: str
    stem: str
    channels: int
    """PSPHead ``channels``: pyramid branches and bottleneck width."""


MMSEG_CONFIGS = {
    "pspnet_r18-d8": MmsegConfig("resnet18", "deep", 128),
    "pspnet_r50-d8": MmsegConfig("resnet50", "deep", 512),
    "pspnet_r101-d8": MmsegConfig("resnet101", "deep", 512),
    "pspnet_r18b-d8": MmsegConfig("resnet18", "conv7", 128),
    "pspnet_r50b-d8": MmsegConfig("resnet50", "conv7", 512),
    "pspnet_r101b-d8": MmsegConfig("resnet101", "conv7", 512),
}
"""mmseg's output-stride-8 PSPNet configs ("b": torchvision-style ``ResNet`` with the 7x7 stem,
otherwise ``ResNetV1c``), by the prefix of their config file names."""
BASE_CHANNELS = 64
"""mmseg ResNet ``base_channels`` (and ``stem_channels``) default."""
DEFAULT_INPUT_SIZE = (1024, 2048)
"""mmseg's Cityscapes test pipeline runs whole 1024x2048 images (``test_cfg mode='whole'``)."""
TRAINING_ONLY = ("auxiliary_head.",)
_RENAMES = (
    (r"^decode_head\.psp_modules\.(\d+)\.1\.conv\.", r"ppm.reduce.\1.0."),
    (r"^decode_head\.psp_modules\.(\d+)\.1\.bn\.", r"ppm.reduce.\1.1."),
    (r"^decode_head\.bottleneck\.conv\.", "head.0.0."),
    (r"^decode_head\.bottleneck\.bn\.", "head.0.1."),
    (r"^decode_head\.conv_seg\.", "classifier."),
)
"""mmseg key -> vsseg key; ``backbone.*`` keys are the same in both."""


def config_name(text: str) -> str:
    """The MMSEG_CONFIGS key for a config name or file name (``pspnet_r18-d8``,
    ``configs/pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py``); CheckpointError if none."""
    stem = Path(text).name.removesuffix(".py")
    for name in MMSEG_CONFIGS:
        if stem == name or stem.startswith(name + "_"):
            return name
    raise CheckpointError(f"mmseg config {text!r} is not supported; vsseg imports "
                          f"{', '.join(MMSEG_CONFIGS)} (and their config file names, e.g. "
                          "pspnet_r18-d8_4xb2-80k_cityscapes-512x1024)")


def model_config(name: str, *, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
                 base_channels: int = BASE_CHANNELS, channels: int | None = None) -> ModelConfig:
    """vsseg architecture of mmseg config ``name`` at ``input_size`` (H, W); ``base_channels``
    and ``channels`` are mmseg's backbone and PSPHead settings, for configs that changed them."""
    mm = MMSEG_CONFIGS[config_name(name)]
    return ModelConfig(backbone=mm.backbone, width=base_channels / BASE_CHANNELS, output_stride=8,
                       bins=(1, 2, 3, 6), head_channels=channels or mm.channels,
                       ppm_channels=channels or mm.channels, input_size=input_size,
                       num_classes=NUM_CLASSES, decoder_channels=0, aux_head=False,
                       stem=mm.stem, dilate_basic_conv2=False, pooling="adaptive")


def mmseg_key_map(key: str) -> str | None:
    """vsseg key of an mmseg state-dict key; None for training-only keys."""
    if key.startswith(TRAINING_ONLY):
        return None
    for pattern, replacement in _RENAMES:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    return key


def read_checkpoint(path: str | Path, *, trust: bool = False) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict, meta) of an mmseg checkpoint (``{"state_dict": ..., "meta": ...}`` or a bare
    state dict). Only tensors and plain containers are unpickled unless ``trust``."""
    path = Path(path)
    if not path.is_file():
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint {path} {problem}; pass the .pth file mmseg wrote")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if found := re.search(r"Unsupported global: GLOBAL (\S+)", str(exc)):
            raise CheckpointError(
                f"{path} holds Python objects besides tensors ({found.group(1)}); unpickling "
                "them would run code from the file. If you trust the file, pass "
                "--trust-checkpoint") from exc
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (it does not unpickle); "
                              "pass the .pth file mmseg wrote") from exc
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise CheckpointError(f"{path} is truncated or not a PyTorch checkpoint ({exc}); "
                              "check the download (its size and sha256)") from exc
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors (neither under "
                              "'state_dict' nor at the top level); is it an mmseg checkpoint?")
    meta = checkpoint.get("meta", {}) if "state_dict" in checkpoint else {}
    return {k.removeprefix("module."): v for k, v in state.items()}, meta if isinstance(meta, dict) else {}


def guess_config(state: dict[str, torch.Tensor]) -> str | None:
    """The MMSEG_CONFIGS name whose layout (stem, block type, layer3 depth) ``state`` has."""
    blocks = {int(m.group(1)) for k in state if (m := re.match(r"backbone\.layer3\.(\d+)\.", k))}
    bottleneck = any(k.startswith("backbone.layer1.0.conv3.") for k in state)
    backbone = {(False, 2): "resnet18", (True, 6): "resnet50", (True, 23): "resnet101"}.get(
        (bottleneck, len(blocks)))
    stem = "deep" if "backbone.stem.0.weight" in state else "conv7"
    return next((name for name, mm in MMSEG_CONFIGS.items()
                 if (mm.backbone, mm.stem) == (backbone, stem)), None)


def _widths(state: dict[str, torch.Tensor]) -> str:
    """The --base-channels/--channels options ``state``'s shapes imply ('' if unknown)."""
    planes, head = state.get("backbone.layer1.0.conv1.weight"), state.get(
        "decode_head.bottleneck.conv.weight")
    if planes is None or head is None:
        return ""
    return f"--base-channels {planes.shape[0]} --channels {head.shape[0]}"


def _listed(keys: list[str], limit: int = 3) -> str:
    more = f" (and {len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def convert_state_dict(state: dict[str, torch.Tensor], model: PSPNet, config: str
                       ) -> dict[str, torch.Tensor]:
    """``state`` (mmseg keys) renamed for ``model``; CheckpointError naming the first missing,
    unexpected or mis-shaped keys (in mmseg's names) and ``config``, if it does not fit."""
    expected = model.inference_state_dict()
    normalisation = {k: expected.pop(k) for k in ("mean", "std")}  # from the config, not mmseg's
    converted, source_of = {}, {}
    unexpected = []
    for key, tensor in state.items():
        mapped = mmseg_key_map(key)
        if mapped is None:
            continue
        if mapped not in expected:
            unexpected.append(key)
            continue
        converted[mapped], source_of[mapped] = tensor, key
    missing = [k for k in expected if k not in converted]
    shapes = [f"{source_of[k]} {tuple(converted[k].shape)} (config: {tuple(v.shape)})"
              for k, v in expected.items() if k in converted and converted[k].shape != v.shape]
    problems = ([f"missing keys {_listed(missing)}"] * bool(missing)
                + [f"unexpected keys {_listed(unexpected)}"] * bool(unexpected)
                + [f"shape mismatches {_listed(shapes)}"] * bool(shapes))
    if problems:
        guess = guess_config(state)
        hint = (f"; its layout is that of {guess}" if guess and guess != config_name(config) else
                f"; its widths are {_widths(state)}" if _widths(state) else "")
        raise CheckpointError(f"the checkpoint does not fit mmseg config {config}: "
                              f"{'; '.join(problems)}{hint}")
    return {**normalisation, **converted}


def import_mmseg(path: str | Path, config: str, *, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
                 base_channels: int = BASE_CHANNELS, channels: int | None = None,
                 trust: bool = False) -> tuple[PSPNet, dict]:
    """(vsseg PSPNet in eval mode with the checkpoint's weights, the checkpoint's meta)."""
    state, meta = read_checkpoint(path, trust=trust)
    classes = state.get("decode_head.conv_seg.weight")
    if classes is not None and classes.shape[0] != NUM_CLASSES:
        raise CheckpointError(f"{path} classifies {classes.shape[0]} classes; vsseg publishes "
                              f"Cityscapes trainIds, so it imports {NUM_CLASSES}-class "
                              "(Cityscapes-trained) checkpoints only")
    try:
        model = PSPNet(model_config(config, input_size=input_size, base_channels=base_channels,
                                    channels=channels))
    except ValueError as exc:
        raise CheckpointError(f"cannot build {config} at {input_size[0]}x{input_size[1]}: {exc}") from exc
    model.load_state_dict(convert_state_dict(state, model, config))
    return model.eval(), meta
