"""PSPNet-style segmentation network with the seam the temporal method needs.

    image (N, 3, H, W) float32 RGB 0..255
      -> forward_low   -> low  (N, C_low, H/4, W/4)       cheap: stem + layer1, every frame
      -> forward_high  -> deep (N, C_deep, H/os, W/os)    expensive: layer2..4 + PPM + 3x3 conv
      -> classify(deep, low) -> logits (N, classes, H, W)
                         decoder: deep reduced and upsampled to H/4, fused with the frame's own
                         low-level features (3x3 conv), 1x1 classifier, bilinear upsampling

The decoder gives thin and small objects (poles, signs, bicycles) the stride-4 detail a stride-16
deep grid cannot hold, and lets propagated frames sharpen warped deep features with the current
frame's low-level features. ``decoder_channels=0`` is the plain PSPNet head (1x1 classifier on the
deep grid), which ignores ``low``.

Normalisation constants are buffers, so every exported graph carries them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vsseg_core.labels import NUM_CLASSES
from vsseg_core.model.ppm import PyramidPooling
from vsseg_core.model.resnet import ResNet

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a PSPNet; stored in model.json so a bundle can be rebuilt exactly."""

    backbone: str = "resnet18"
    width: float = 0.5
    output_stride: int = 8
    bins: tuple[int, ...] = (1, 2, 3, 6)
    head_channels: int = 128
    input_size: tuple[int, int] = (256, 512)
    """(H, W) pixels the network (and its pyramid pooling) is built for."""
    num_classes: int = NUM_CLASSES
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    decoder_channels: int = 0
    """Channels of the stride-4 decoder in ``classify``; 0 = plain PSPNet classifier."""
    aux_head: bool = field(default=True, compare=False)
    """Auxiliary layer3 head for training only; never exported."""
    stem: str = "conv7"
    """ResNet stem: "conv7" (7x7 convolution) or "deep" (three 3x3, mmseg's ResNetV1c)."""
    dilate_basic_conv2: bool = True
    """Dilate both 3x3 convolutions of basic blocks (False: only the first, as mmseg)."""
    pooling: str = "fixed"
    """Pyramid pooling windows: "fixed" (vsseg's own) or "adaptive" (AdaptiveAvgPool2d exactly,
    imported networks); see ``model.ppm``."""
    ppm_channels: int = 0
    """Width of each pyramid-pooling branch; 0 = deep channels / number of bins (vsseg's own),
    mmseg's PSPHead uses its ``channels`` (= ``head_channels``)."""

    def __post_init__(self) -> None:
        if self.head_channels < 1:
            raise ValueError(f"head channels {self.head_channels}: must be >= 1")
        if self.ppm_channels < 0:
            raise ValueError(f"pyramid pooling channels {self.ppm_channels}: must be >= 0 "
                             "(0 = deep channels / bins)")
        if self.decoder_channels < 0:
            raise ValueError(f"decoder channels {self.decoder_channels}: must be >= 0 (0 = no decoder)")
        height, width = self.input_size
        if height % 32 or width % 32 or height <= 0 or width <= 0:
            raise ValueError(f"input size {height}x{width}: both sides must be positive multiples "
                             "of 32, e.g. 256x512")

    @property
    def feature_size(self) -> tuple[int, int]:
        """(h, w) of the deep features."""
        return self.input_size[0] // self.output_stride, self.input_size[1] // self.output_stride

    @property
    def low_size(self) -> tuple[int, int]:
        """(h, w) of the low-level features (stride 4)."""
        return self.input_size[0] // 4, self.input_size[1] // 4

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("aux_head")
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ModelConfig":
        tuples = {k: tuple(data[k]) for k in ("bins", "input_size", "mean", "std") if k in data}
        return cls(**{**data, **tuples, "aux_head": False})


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class Decoder(nn.Module):
    """(deep (N, C_deep, h, w), low (N, C_low, H/4, W/4)) -> (N, channels, H/4, W/4)."""

    def __init__(self, deep_channels: int, low_channels: int, channels: int) -> None:
        super().__init__()
        low_proj = max(8, channels // 2)
        self.reduce = _conv_bn_relu(deep_channels, channels, 1)
        self.project = _conv_bn_relu(low_channels, low_proj, 1)
        self.fuse = _conv_bn_relu(channels + low_proj, channels, 3)

    def forward(self, deep: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.reduce(deep), size=low.shape[-2:], mode="bilinear",
                           align_corners=False)
        return self.fuse(torch.cat([up, self.project(low)], dim=1))


class PSPNet(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1))
        self.backbone = ResNet(depth=config.backbone, width=config.width,
                               output_stride=config.output_stride, stem=config.stem,
                               dilate_basic_conv2=config.dilate_basic_conv2)
        ch = self.backbone.channels
        self.ppm = PyramidPooling(ch.high, bins=config.bins, feature_size=config.feature_size,
                                  branch_ch=config.ppm_channels, pooling=config.pooling)
        self.head = nn.Sequential(_conv_bn_relu(self.ppm.out_channels, config.head_channels, 3),
                                  nn.Dropout2d(0.1))
        self.decoder: Decoder | None = None
        if config.decoder_channels:
            self.decoder = Decoder(config.head_channels, ch.low, config.decoder_channels)
        self.classifier = nn.Conv2d(config.decoder_channels or config.head_channels,
                                    config.num_classes, 1)
        self.aux = None
        if config.aux_head:
            self.aux = nn.Sequential(_conv_bn_relu(ch.mid, max(32, ch.mid // 4), 3), nn.Dropout2d(0.1),
                                     nn.Conv2d(max(32, ch.mid // 4), config.num_classes, 1))

    @property
    def low_channels(self) -> int:
        return self.backbone.channels.low

    def forward_low(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB 0..255 -> low-level features (N, C_low, H/4, W/4)."""
        return self.backbone.forward_low((image - self.mean) / self.std)

    def _high(self, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mid, top = self.backbone.forward_high(low)
        return mid, self.head(self.ppm(top))

    def forward_high(self, low: torch.Tensor) -> torch.Tensor:
        """Low-level features -> deep features (N, head_channels, H/os, W/os)."""
        return self._high(low)[1]

    @property
    def logits_stride(self) -> int:
        """Input pixels per cell of ``grid_logits``: 4 with the decoder, else the output stride."""
        return 4 if self.decoder is not None else self.config.output_stride

    def grid_logits(self, deep: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        """Deep features (N, head_channels, H/os, W/os) and the same frame's low-level features
        (N, C_low, H/4, W/4) -> logits (N, classes, H/s, W/s) on the classifier's own grid
        (s = ``logits_stride``), before upsampling: what the streaming graphs output, so that
        post-processing decides labels at full resolution only where the class changes."""
        return self.classifier(deep if self.decoder is None else self.decoder(deep, low))

    def classify(self, deep: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        """``grid_logits`` upsampled bilinearly to logits (N, classes, H, W) at the input
        resolution (training and the single-frame network)."""
        return F.interpolate(self.grid_logits(deep, low), size=self.config.input_size,
                             mode="bilinear", align_corners=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB 0..255 -> logits (N, classes, H, W)."""
        low = self.forward_low(image)
        return self.classify(self.forward_high(low), low)

    def forward_train(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (N, classes, H, W) and auxiliary logits from layer3 at the low-level stride,
        (N, classes, H/4, W/4); None without the aux head.

        The auxiliary loss is a regulariser, so it is scored on the stride-4 grid (labels
        subsampled, see ``aux_labels``): at full resolution its softmax and upsampling cost a
        fifth of a CPU training step."""
        low = self.forward_low(image)
        mid, deep = self._high(low)
        aux = None
        if self.aux is not None:
            aux = F.interpolate(self.aux(mid), size=low.shape[-2:], mode="bilinear",
                                align_corners=False)
        return self.classify(deep, low), aux

    @staticmethod
    def aux_labels(labels: torch.Tensor) -> torch.Tensor:
        """(N, H, W) labels -> (N, H/4, W/4): the label nearest the centre of each 4x4 cell,
        the targets of the auxiliary logits of ``forward_train``."""
        return labels[:, 2::4, 2::4]

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """Weights without the training-only auxiliary head."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("aux.")}
