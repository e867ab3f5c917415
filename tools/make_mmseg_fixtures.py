"""Generate (or check) the mmsegmentation parity fixtures in test/fixtures/mmseg/.

Runs the real OpenMMLab implementation, in its own virtual environment (never a dependency of
vsseg):

    python3 -m venv /tmp/mmseg-venv
    /tmp/mmseg-venv/bin/pip install torch==2.13.0 numpy==2.2.6 mmsegmentation==1.2.2 \\
        mmengine==0.10.7 mmcv-lite==2.1.0 ftfy regex
    /tmp/mmseg-venv/bin/python tools/make_mmseg_fixtures.py            # write the fixtures
    /tmp/mmseg-venv/bin/python tools/make_mmseg_fixtures.py --check    # regenerate and compare

For each config (mmseg's own `pspnet_r18-d8`, `pspnet_r50-d8` and `pspnet_r18b-d8` model settings, reduced to
``base_channels``/``stem_channels`` 8 and ``channels`` 32 so each fixture is well under 2 MB) it
builds mmseg's EncoderDecoder with seeded random weights, randomises every BatchNorm's
statistics and affine parameters (mmseg initialises them to the identity, which would hide a
mis-mapped BN), and writes

    <name>.pth         an mmseg-format checkpoint: {"meta": {...}, "state_dict": {...}}
    <name>_logits.npz  image (N, H, W, 3) uint8 RGB, logits (N, 19, H, W) float32 from mmseg's
                       SegDataPreProcessor (fed BGR, as mmseg's loader gives it) and
                       EncoderDecoder.encode_decode (whole-image inference)

and, for `vsseg import onnx`, the R18 network exported by torch.onnx from mmseg's own modules
(normalised RGB in, logits at the input size out) at 96x192, where every pyramid bin divides the
12x24 feature map (mmseg's AdaptiveAvgPool2d exports only then):

    pspnet_r18-d8_tiny_96x192.onnx         input "input" (1, 3, 96, 192), output "logits"
    pspnet_r18-d8_tiny_96x192_logits.npz   image, logits (as above), low and deep: the names
                                           of mmseg's layer1 and PSPHead-bottleneck outputs

``--check`` regenerates into a temporary directory and compares: the state dicts and the ONNX
file must be equal bit for bit and the logits within 1e-6 (the same torch wheel gives the same bits; the tolerance
allows another CPU's kernels).

mmcv-lite has no compiled ops; `import mmseg.models` imports ``mmcv.ops`` only for heads PSPNet
does not use, so a placeholder module stands in for it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "mmseg"
INPUT_SIZE = (64, 128)
"""(H, W): a 8x16 feature map at output stride 8, which pool scales 3 and 6 do not divide."""
IMAGES = 1
LOGIT_TOLERANCE = 1e-6
FIXTURES = {
    # name: (mmseg config name, depth, in_channels of decode_head, of auxiliary_head)
    "pspnet_r18-d8_tiny": ("pspnet_r18-d8", 18, 64, 32),
    "pspnet_r50-d8_tiny": ("pspnet_r50-d8", 50, 256, 128),
    "pspnet_r18b-d8_tiny": ("pspnet_r18b-d8", 18, 64, 32),
}
"""The "b" configs use mmseg's torchvision-style ``ResNet`` (7x7 stem) instead of ``ResNetV1c``."""
BASE_CHANNELS = 8
CLASSIFIER_GAIN = 0.05
"""Keeps random-weight logits within about +-10, the range of a trained network's."""
HEAD_CHANNELS = 32


def _stub_mmcv_ops() -> None:
    ops = types.ModuleType("mmcv.ops")
    ops.__getattr__ = lambda name: None  # type: ignore[method-assign]
    sys.modules["mmcv.ops"] = ops


def build_model(depth: int, decode_in: int, aux_in: int, backbone: str = "ResNetV1c"
                ) -> torch.nn.Module:
    """mmseg's PSPNet model settings (configs/_base_/models/pspnet_r50-d8.py) at reduced width."""
    _stub_mmcv_ops()
    from mmengine.config import ConfigDict
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules()
    norm_cfg = dict(type="BN", requires_grad=True)
    cfg = ConfigDict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=255),
        backbone=dict(type=backbone, depth=depth, num_stages=4, out_indices=(0, 1, 2, 3),
                      dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1), norm_cfg=norm_cfg,
                      norm_eval=False, style="pytorch", contract_dilation=True,
                      stem_channels=BASE_CHANNELS, base_channels=BASE_CHANNELS),
        decode_head=dict(type="PSPHead", in_channels=decode_in, in_index=3, channels=HEAD_CHANNELS,
                         pool_scales=(1, 2, 3, 6), dropout_ratio=0.1, num_classes=19,
                         norm_cfg=norm_cfg, align_corners=False,
                         loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False,
                                          loss_weight=1.0)),
        auxiliary_head=dict(type="FCNHead", in_channels=aux_in, in_index=2, channels=aux_in // 4,
                            num_convs=1, concat_input=False, dropout_ratio=0.1, num_classes=19,
                            norm_cfg=norm_cfg, align_corners=False,
                            loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False,
                                             loss_weight=0.4)),
        train_cfg=dict(), test_cfg=dict(mode="whole"))
    return MODELS.build(cfg)


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Seeded random weights, and BatchNorm statistics and affine terms far from identity."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 1.5 + 0.5)
            elif name.endswith(("running_mean", "bias")):
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
            elif tensor.dim() == 1:  # BN weight
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:  # conv weight: He-normal, so activations neither vanish nor explode
                fan_in = tensor[0].numel()
                gain = CLASSIFIER_GAIN if "conv_seg" in name else 1.0
                tensor.copy_(torch.randn(tensor.shape, generator=generator)
                             * gain * (2 / fan_in) ** 0.5)


def mmseg_logits(model: torch.nn.Module, rgb: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB -> (N, 19, H, W) float32 through mmseg's own preprocessing (BGR in,
    as its image loader gives) and whole-image inference."""
    bgr = [torch.from_numpy(np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1)))
           for image in rgb]
    data = model.data_preprocessor({"inputs": bgr}, training=False)
    metas = [dict(img_shape=INPUT_SIZE, ori_shape=INPUT_SIZE, pad_shape=INPUT_SIZE)] * len(rgb)
    with torch.no_grad():
        return model.encode_decode(data["inputs"], metas).numpy().astype(np.float32)


ONNX_SIZE = (96, 192)


class _Logits(torch.nn.Module):
    """mmseg's EncoderDecoder on normalised input, logits resized to the input (encode_decode)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        metas = [dict(img_shape=ONNX_SIZE, ori_shape=ONNX_SIZE, pad_shape=ONNX_SIZE)]
        return self.model.encode_decode(x, metas)


def write_onnx(model: torch.nn.Module, out: Path, name: str) -> None:
    """Export ``model`` with torch.onnx (opset 17) and record the logits and split tensor names."""
    import onnx

    path = out / f"{name}_96x192.onnx"
    rgb = np.random.default_rng(7).integers(0, 256, (1, *ONNX_SIZE, 3), dtype=np.uint8)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in ([123.675, 116.28, 103.53],
                                                            [58.395, 57.12, 57.375]))
    x = (torch.from_numpy(rgb).permute(0, 3, 1, 2).float() - mean) / std
    network = _Logits(model).eval()  # the exporter restores the wrapper's mode on the model
    torch.onnx.export(network, (x,), str(path), dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"])
    graph = onnx.load(str(path)).graph
    outputs = [o for node in graph.node for o in node.output]
    low = [o for o in outputs if o.startswith("/backbone/layer1/")][-1]
    deep = [o for o in outputs if o.startswith("/bottleneck/")][-1]
    with torch.no_grad():
        logits = network(x).numpy()
    np.savez_compressed(out / f"{name}_96x192_logits.npz", image=rgb, logits=logits,
                        low=np.array(low), deep=np.array(deep))
    print(f"wrote {path} (low {low}, deep {deep})")


def write(out: Path) -> None:
    import mmseg

    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, (config, depth, decode_in, aux_in)) in enumerate(FIXTURES.items()):
        torch.manual_seed(seed)
        backbone = "ResNet" if config.endswith("b-d8") else "ResNetV1c"
        model = build_model(depth, decode_in, aux_in, backbone).eval()
        randomise(model, seed)
        rgb = np.random.default_rng(seed).integers(0, 256, (IMAGES, *INPUT_SIZE, 3), dtype=np.uint8)
        meta = {"mmseg_version": mmseg.__version__, "config": config,
                "fixture": f"tools/make_mmseg_fixtures.py: base_channels {BASE_CHANNELS}, "
                           f"channels {HEAD_CHANNELS}, random weights (seed {seed})",
                "dataset_meta": {"classes": 19}}
        torch.save({"meta": meta, "state_dict": model.state_dict()}, out / f"{name}.pth")
        np.savez_compressed(out / f"{name}_logits.npz", image=rgb, logits=mmseg_logits(model, rgb))
        print(f"wrote {out / name}.pth and {name}_logits.npz")
        if config == "pspnet_r18-d8":
            write_onnx(model, out, name)


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp))
        bad = 0
        for name in FIXTURES:
            new = torch.load(Path(tmp) / f"{name}.pth", weights_only=True)["state_dict"]
            old = torch.load(OUT / f"{name}.pth", weights_only=True)["state_dict"]
            same = new.keys() == old.keys() and all(torch.equal(new[k], old[k]) for k in new)
            diff = float(np.abs(np.load(Path(tmp) / f"{name}_logits.npz")["logits"]
                                - np.load(OUT / f"{name}_logits.npz")["logits"]).max())
            print(f"{name}: state dict {'identical' if same else 'DIFFERS'}, "
                  f"max |logit diff| {diff:.1e}")
            bad += not same or diff > LOGIT_TOLERANCE
        for onnx_logits in sorted(OUT.glob("*_96x192_logits.npz")):
            old, new = np.load(onnx_logits), np.load(Path(tmp) / onnx_logits.name)
            diff = float(np.abs(old["logits"] - new["logits"]).max())
            names = (str(old["low"]), str(old["deep"])) == (str(new["low"]), str(new["deep"]))
            graph = onnx_logits.name.replace("_logits.npz", ".onnx")
            same_graph = (OUT / graph).read_bytes() == (Path(tmp) / graph).read_bytes()
            print(f"{onnx_logits.name}: max |logit diff| {diff:.1e}, split tensor names "
                  f"{'identical' if names else 'DIFFER'}; {graph} "
                  f"{'identical' if same_graph else 'DIFFERS'}")
            bad += not names or not same_graph or diff > LOGIT_TOLERANCE
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in a temporary directory and compare with the committed ones")
    args = parser.parse_args()
    if args.check:
        return check()
    write(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
