"""Runtime: inference backends behind one interface, shared pre/post-processing, segmenters.

    Backend.run(graph, {input: array}) -> {output: array}   (see ``base``)
    create_backend(name, bundle, device=..., precision=...)  (see ``factory``)
    Preprocessor / postprocess                               (see ``processing``)
    FrameSegmenter.segment(rgb) -> SegmentResult              (see ``segmenter``)
"""
