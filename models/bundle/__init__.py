"""The model bundle: its files, decision rule, calibration, operating curve, ensemble manifests,
loading, and atomic writes."""
