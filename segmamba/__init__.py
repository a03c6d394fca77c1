"""segmamba-bench: a reproducible benchmark pipeline for SegMamba and its 3D segmentation baselines."""

__version__ = "0.1.0"
