"""The segmentation network: a dilated ResNet with a pyramid pooling head (PSPNet-style),
split at the seam the temporal method needs (low-level / high-level / classifier)."""
