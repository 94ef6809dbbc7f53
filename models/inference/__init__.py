"""Serving: the engine, its runtimes (backends), test-time augmentation, the ensemble engine and
runtime facts."""
