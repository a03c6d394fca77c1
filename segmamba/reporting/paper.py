"""Numbers the SegMamba paper (Xing et al., MICCAI 2024, arXiv 2401.13560) reports, for the comparison tables.

Tables 2, 4 and 5 are transcribed from the paper. Table 5's rows are the measurements at the paper's
128³ input (sequence length 262,144): TM, IM and IT, SegMamba's being 17,976 MB, 6,279 MB and 1.51 cases/s.

Table 3 (CRC-500, seven methods) was lost in the text extraction. Only two of its rows are known from
elsewhere in the paper: SegMamba's 48.02 % / 30.89 (stated in the text) and UX-Net's 45.73 % / 49.73 (the
UX-Net row of the CRC-500 ablation, Table 4). Every other cell is left empty (``None``) rather than guessed.

Units: Dice, IoU, DLR and DBR in percent; HD95 in mm; TM and IM in MB; IT in cases per second.
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

#: Paper Table 2: BraTS2023 (Dice %, HD95 mm) and AIIB2023 (IoU, DLR, DBR %), per method.
TABLE2: dict[str, dict[str, float]] = {
    "segresnet": {"dice_wt": 92.02, "hd95_wt": 4.07, "dice_tc": 89.10, "hd95_tc": 4.08, "dice_et": 83.66,
                  "hd95_et": 3.88, "dice_avg": 88.26, "hd95_avg": 4.01, "iou": 87.49, "dlr": 65.07, "dbr": 53.91},
    "uxnet": {"dice_wt": 93.13, "hd95_wt": 4.56, "dice_tc": 90.03, "hd95_tc": 5.68, "dice_et": 85.91,
              "hd95_et": 4.19, "dice_avg": 89.69, "hd95_avg": 4.81, "iou": 87.55, "dlr": 65.56, "dbr": 54.04},
    "mednext": {"dice_wt": 92.41, "hd95_wt": 4.98, "dice_tc": 87.75, "hd95_tc": 4.67, "dice_et": 83.96,
                "hd95_et": 4.51, "dice_avg": 88.04, "hd95_avg": 4.72, "iou": 85.81, "dlr": 57.43, "dbr": 47.34},
    "unetr": {"dice_wt": 92.19, "hd95_wt": 6.17, "dice_tc": 86.39, "hd95_tc": 5.29, "dice_et": 84.48,
              "hd95_et": 5.03, "dice_avg": 87.68, "hd95_avg": 5.49, "iou": 83.22, "dlr": 48.03, "dbr": 38.73},
    "swinunetr": {"dice_wt": 92.71, "hd95_wt": 5.22, "dice_tc": 87.79, "hd95_tc": 4.42, "dice_et": 84.21,
                  "hd95_et": 4.48, "dice_avg": 88.23, "hd95_avg": 4.70, "iou": 87.11, "dlr": 63.31, "dbr": 52.15},
    "swinunetr_v2": {"dice_wt": 93.35, "hd95_wt": 5.01, "dice_tc": 89.65, "hd95_tc": 4.41, "dice_et": 85.17,
                     "hd95_et": 4.41, "dice_avg": 89.39, "hd95_avg": 4.51, "iou": 87.51, "dlr": 64.68,
                     "dbr": 53.19},
    "segmamba": {"dice_wt": 93.61, "hd95_wt": 3.37, "dice_tc": 92.65, "hd95_tc": 3.85, "dice_et": 87.71,
                 "hd95_et": 3.48, "dice_avg": 91.32, "hd95_avg": 3.56, "iou": 88.59, "dlr": 70.21, "dbr": 61.33},
}

#: Paper Table 3: CRC-500 Dice (%) and HD95 (mm). Rows other than UX-Net and SegMamba were lost (see above).
TABLE3: dict[str, dict[str, float | None]] = {
    "segresnet": {"dice": None, "hd95": None},
    "uxnet": {"dice": 45.73, "hd95": 49.73},
    "mednext": {"dice": None, "hd95": None},
    "unetr": {"dice": None, "hd95": None},
    "swinunetr": {"dice": None, "hd95": None},
    "swinunetr_v2": {"dice": None, "hd95": None},
    "segmamba": {"dice": 48.02, "hd95": 30.89},
}

#: Why some Table 3 paper cells are empty (printed under the table).
TABLE3_NOTE = (
    "Of the paper's Table 3 only two rows are known here: UX-Net (its row in the paper's CRC-500 ablation, "
    "Table 4) and SegMamba (quoted in the paper's text); the other methods have no paper row."
)

#: Paper Table 4: CRC-500 ablation, Dice (%) and HD95 (mm), with the modules each variant contains.
TABLE4: dict[str, dict[str, float]] = {
    "uxnet": {"dice": 45.73, "hd95": 49.73},
    "segmamba_m1": {"dice": 45.34, "hd95": 43.01},
    "segmamba_m2": {"dice": 46.65, "hd95": 37.01},
    "segmamba_m3": {"dice": 47.22, "hd95": 33.32},
    "segmamba": {"dice": 48.02, "hd95": 30.89},
}

#: The dataset of the paper's ablation (Table 4's paper values apply to it only).
ABLATION_DATASET = "crc500"

#: Table 4's module columns, in order.
ABLATION_MODULE_NAMES = ("LC", "GSC", "ToM")

#: Table 4's module columns: LC = large-kernel convolution, GSC = gated spatial convolution, ToM =
#: tri-orientated Mamba. M1 is a plain (forward-only) Mamba layer without GSC.
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


#: The paper's accuracy numbers per dataset, ``{dataset: {method: {metric key: value}}}``: Table 2 holds
#: both BraTS2023 and AIIB2023 (their metric keys differ), Table 3 CRC-500.
DATASET_PAPER_VALUES: dict[str, dict[str, dict[str, float | None]]] = {
    "brats2023": TABLE2,
    "aiib2023": TABLE2,
    "crc500": TABLE3,
}


def dataset_paper_values(dataset: str) -> dict[str, dict[str, float | None]]:
    """The paper's numbers for a dataset's table (empty for a dataset the paper does not report)."""
    return DATASET_PAPER_VALUES.get(dataset, {})


def method_label(model: str) -> str:
    """Return the paper's display name for a registry model name (the name itself when unknown)."""
    return METHOD_LABELS.get(model, model)
