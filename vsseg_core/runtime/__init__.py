"""Runtime: inference backends behind one interface, shared pre/post-processing, INT8 batches.

    Backend.run(graph, {input: array}) -> {output: array}   (see ``base``)
    create_backend(name, bundle, device=..., precision=...)  (see ``factory``)
    Preprocessor / postprocess                               (see ``processing``)
    CalibrationBatches (TensorRT INT8 calibration)           (see ``int8_batches``)
"""
