"""Import networks trained elsewhere (mmsegmentation checkpoints, ONNX models) as bundles."""
