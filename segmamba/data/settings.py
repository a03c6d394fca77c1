"""Settings of the data stage's scale-dependent steps (``SynthSettings``, ``PreprocessSettings``): defaults and
help, the source of the ``segmamba synth`` / ``segmamba preprocess`` flags and of the config schema's
``scales.<scale>.synthetic`` and ``.preprocess`` defaults."""

from __future__ import annotations

from dataclasses import dataclass

from segmamba.settings import setting


@dataclass
class SynthSettings:
    """Size of a synthetic stand-in dataset."""

    cases: int = setting(20, "number of cases")
    size: int = setting(48, "volume edge in voxels")
    seed: int = setting(0, "random seed (the data are deterministic per seed)")


@dataclass
class PreprocessSettings:
    """How preprocessing runs (what it computes comes from the dataset and the split)."""

    workers: int = setting(1, "cases preprocessed in parallel processes")
