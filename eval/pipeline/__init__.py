"""Evaluation's pipeline: reading labelled inputs, running a bundle, scoring, the diagnosis
block."""
