"""Synthetic Cityscapes-style driving video (``vsseg synth``).

A procedural road scene is described in *road coordinates* — arc length ``s`` (metres along
the road), lateral offset ``lat`` (metres, positive to the right of the road centre) and height
``h`` (metres above the ground) — rendered through a pinhole camera that rides along with the
ego vehicle. Every label pixel and every image pixel come from the same polygons, so labels are
exact by construction.
"""
