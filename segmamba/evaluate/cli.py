"""Command-line subcommands of the evaluate stage: ``segmamba ground-truth`` and ``segmamba evaluate``."""

from __future__ import annotations

import argparse

from segmamba.data.cli import NAME_HELP, REGIONS_HELP, add_dataset_args
from segmamba.data.registry import DATASETS

DESCRIPTION = """\
Score predicted label maps against ground-truth label maps and write a per-case CSV plus a summary JSON
(<stem>.summary.json beside the CSV: mean, std, n, undefined and empty-mask counts per metric, and the
same results in nnU-Net v2's summary.json shape: metric_per_case, mean and foreground_mean per label or
region key, "1" for a label and "(1, 2, 3)" for a region, as nnU-Net writes them).

Both folders hold <case>.nii.gz label maps in the original geometry; every ground-truth case needs a
prediction with the same shape and affine. Spacing for HD95 comes from the ground-truth header.

Columns: brats2023 -> case, dice_wt, dice_tc, dice_et, hd95_wt, hd95_tc, hd95_et
         (WT = labels {1,2,3}, TC = {1,3}, ET = {3});
         aiib2023  -> case, iou, dlr, dbr, precision, leakage (official AIIB23 definitions: largest
         6-connected component of the prediction, branch detected at >= 80 % centreline coverage);
         crc500    -> case, dice, hd95 (label 1);
         nnunet    -> case, dice_<label>..., dice_mean, hd95_<label>..., hd95_mean: every foreground
         label of --root/dataset.json, named in lower case, or every region of --regions, and the
         per-case means over them.
Dice, IoU, DLR, DBR, precision and leakage are fractions in [0, 1]; HD95 is medpy's pooled 95th
percentile Hausdorff distance in mm.
"""

CONVENTION_HELP = (
    "empty-mask rule for Dice/HD95: 'segmamba' (prediction or ground truth empty -> Dice 0, HD95 50; the "
    "published default) or 'brats' (both empty -> 1 / 0, one empty -> 0 / 373.13). Ignored for aiib2023."
)


def register(subparsers) -> None:
    """Register ``segmamba ground-truth`` and ``segmamba evaluate`` on the top-level parser's subparsers."""
    ground_truth = subparsers.add_parser(
        "ground-truth",
        help="write ground-truth label maps of a split subset for evaluation",
        description="Write GT_DIR/<case>.nii.gz (uint8 label map, original geometry and affine) for every case "
        "of the chosen subset of the split.",
    )
    add_dataset_args(ground_truth)
    ground_truth.add_argument("--split", required=True, help="split JSON")
    ground_truth.add_argument(
        "--subset", default="test", choices=("train", "val", "test"), help="subset (default test)"
    )
    ground_truth.add_argument("--out", required=True, help="output folder GT_DIR")
    ground_truth.set_defaults(func=handle_ground_truth)

    parser = subparsers.add_parser(
        "evaluate",
        help="score predictions against ground truth (Dice/HD95 or AIIB IoU/DLR/DBR)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", required=True, choices=tuple(DATASETS), help="dataset layout")
    parser.add_argument("--root", help="nnunet only: the raw dataset folder (its dataset.json names the labels)")
    parser.add_argument("--regions", help=REGIONS_HELP)
    parser.add_argument("--name", help=NAME_HELP + " (the summary's dataset)")
    parser.add_argument("--pred-dir", required=True, help="folder of predicted <case>.nii.gz label maps")
    parser.add_argument("--gt-dir", required=True, help="folder of ground-truth <case>.nii.gz label maps")
    parser.add_argument("--out", required=True, help="per-case metrics CSV to write")
    parser.add_argument("--convention", default="segmamba", choices=("segmamba", "brats"), help=CONVENTION_HELP)
    parser.add_argument("--workers", type=int, default=1, help="cases scored in parallel processes (default 1)")
    parser.set_defaults(func=handle_evaluate)


def handle_evaluate(args) -> int:
    """Run the evaluation and print the per-metric means."""
    from segmamba.data.dataset_config import parse_regions
    from segmamba.evaluate.evaluate import run_evaluation, summary_path
    from segmamba.job_timing import work

    with work():
        summary = run_evaluation(
            args.dataset,
            args.pred_dir,
            args.gt_dir,
            args.out,
            args.convention,
            args.workers,
            root=args.root,
            regions=parse_regions(args.regions),
            name=args.name,
        )
    for column, stats in summary["metrics"].items():
        mean = "undefined" if stats["mean"] is None else f"{stats['mean']:.4f}"
        print(f"{column}: mean {mean} (n={stats['n']}, empty={stats['n_empty']})")
    print(f"wrote {args.out} and {summary_path(args.out)}")
    return 0


def handle_ground_truth(args) -> int:
    """Write the subset's ground-truth label maps."""
    from segmamba.evaluate.ground_truth import export_ground_truth
    from segmamba.job_timing import work

    with work():
        ids = export_ground_truth(args.dataset, args.root, args.split, args.subset, args.out)
    print(f"wrote {len(ids)} {args.subset} label maps to {args.out}")
    return 0
