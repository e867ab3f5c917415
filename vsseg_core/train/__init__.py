"""Training of the segmentation network (``vsseg train``)."""
