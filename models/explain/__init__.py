"""Heatmaps: EigenCAM and Grad-CAM, their layer layout, and overlays."""
