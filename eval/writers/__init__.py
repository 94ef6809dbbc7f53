"""Evaluation's writers: output files, plots and the report."""
