"""What the SegMamba paper (Xing et al., MICCAI 2024, arXiv 2401.13560) says about the methods, for the tables.

The methods' display names and notes, the modules of the ablation variants (Table 4) and the efficiency
measurements (Table 5, transcribed from the paper): the measurements at the paper's 128³ input (sequence length
262,144), TM and IM in MB, IT in cases per second, SegMamba's being 17,976 MB, 6,279 MB and 1.51 cases/s.

The paper's accuracy numbers belong to its datasets and are part of their definitions in
``segmamba.data.registry`` (``paper_values`` for Tables 2 and 3, ``ablation_paper_values`` for Table 4).
"""

from __future__ import annotations

#: Display names: the seven compared methods in the paper's row order (Tables 2 and 3), the ablation
#: variants, and models the paper does not have.
METHOD_LABELS: dict[str, str] = {
    "segresnet": "SegresNet",
    "uxnet": "UX-Net",
    "mednext": "MedNeXt",
    "unetr": "UNETR",
    "swinunetr": "SwinUNETR",
    "swinunetr_v2": "SwinUNETR-V2",
    "segmamba": "SegMamba",
    "segmamba_m1": "M1",
    "segmamba_m2": "M2",
    "segmamba_m3": "M3",
    "segmamba_m6": "M6",
    "nnunet_resenc_m": "nnU-Net ResEnc M",
}

#: A note shown under every table in which the method appears (marked at its row).
METHOD_NOTES: dict[str, str] = {
    "nnunet_resenc_m": "not in the paper: compute-matched CNN reference (nnU-Net Revisited)",
}

#: Table 4's module columns, in order.
ABLATION_MODULE_NAMES = ("LC", "GSC", "ToM")

#: Table 4's rows in the paper's order and the modules each contains: LC = large-kernel convolution, GSC =
#: gated spatial convolution, ToM = tri-orientated Mamba. M1 is a plain (forward-only) Mamba layer without GSC.
ABLATION_MODULES: dict[str, dict[str, bool]] = {
    "uxnet": {"LC": True, "GSC": False, "ToM": False},
    "segmamba_m1": {"LC": False, "GSC": False, "ToM": False},
    "segmamba_m2": {"LC": False, "GSC": True, "ToM": False},
    "segmamba_m3": {"LC": False, "GSC": False, "ToM": True},
    "segmamba": {"LC": False, "GSC": True, "ToM": True},
}

#: Input edge length of the paper's Table 5 measurements (128³ voxels, sequence length 262,144).
TABLE5_SIZE = 128

#: Paper Table 5 at 128³: training memory TM (MB), inference memory IM (MB), inference throughput IT
#: (cases/s). ``"OOM"`` marks a configuration that ran out of memory; ``None`` a cell the paper leaves blank.
TABLE5: dict[str, dict[str, float | str | None]] = {
    "uxnet": {"tm": 18852, "im": 5776, "it": 1.92},
    "swinunetr": {"tm": 34000, "im": 9480, "it": 1.68},
    "segmamba_m6": {"tm": "OOM", "im": None, "it": None},
    "segmamba": {"tm": 17976, "im": 6279, "it": 1.51},
}

#: Table 5's descriptive columns: the paper's row name, the core module and whether it models globally.
EFFICIENCY_MODELS: dict[str, dict[str, str | bool]] = {
    "uxnet": {"row": "M4 (UX-Net)", "core": "Large-kernel convolution", "is_global": False},
    "swinunetr": {"row": "M5 (SwinUNETR)", "core": "SwinTransformer", "is_global": False},
    "segmamba_m6": {"row": "M6", "core": "Self-attention", "is_global": True},
    "segmamba": {"row": "SegMamba", "core": "TSMamba", "is_global": True},
}


def method_label(model: str) -> str:
    """Return the paper's display name for a registry model name (the name itself when unknown)."""
    return METHOD_LABELS.get(model, model)
