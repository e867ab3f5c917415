"""Datasets in the Cityscapes directory layout (real Cityscapes or ``vsseg synth`` output)."""
