"""Command-line subcommands of the evaluate stage: ``segmamba ground-truth`` and ``segmamba evaluate``."""

from __future__ import annotations

import argparse
import json

from segmamba.data.cli import add_dataset_args, dataset_file_of

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
         nnunet    -> case, dice_<label>..., dice_mean, hd95_<label>..., hd95_mean: every region of the
         dataset file (by default every foreground label of the raw dataset.json, named in lower case),
         and the per-case means over them.
Every overlap dataset also has nsd_<region> (nsd for crc500, nsd_<label>... and nsd_mean for nnunet):
the normalised surface Dice of Nikolov et al. at --nsd-tolerance-mm; aiib2023 has nsd (label 1).
brats2023 also has lesion_dice_wt|tc|et and lesion_hd95_wt|tc|et: the BraTS 2023 challenge's lesion-wise
Dice and HD95 (26-connected lesions, 3-voxel dilation, lesions <= 50 mm^3 dropped, 374 mm per false
positive or missed lesion). See docs/metrics.md.
Dice, IoU, DLR, DBR, precision, leakage and NSD are fractions in [0, 1]; HD95 is medpy's pooled 95th
percentile Hausdorff distance in mm.
"""

NSD_HELP = (
    "NSD tolerance in mm: one number for every region, or a JSON object {region: mm} keyed by the column "
    'suffix (e.g. \'{"wt": 1, "et": 2}\'; regions not named get 1 mm). Default 1.'
)

CONVENTION_HELP = (
    "empty-mask rule for Dice/HD95/NSD: 'segmamba' (prediction or ground truth empty -> Dice 0, HD95 50, NSD 0; "
    "the published default) or 'brats' (both empty -> 1 / 0 / 1, one empty -> 0 / 373.13 / 0). Ignored for "
    "aiib2023 and the lesion-wise metrics, which have their own rules (docs/metrics.md)."
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
    add_dataset_args(
        parser, root_help="by hand, nnunet only: the raw dataset folder (its dataset.json names the labels)"
    )
    parser.add_argument("--pred-dir", required=True, help="folder of predicted <case>.nii.gz label maps")
    parser.add_argument("--gt-dir", required=True, help="folder of ground-truth <case>.nii.gz label maps")
    parser.add_argument(
        "--split", help="split JSON the ground truth is from: predictions of a model of another split are refused"
    )
    parser.add_argument("--out", required=True, help="per-case metrics CSV to write")
    parser.add_argument("--convention", default="segmamba", choices=("segmamba", "brats"), help=CONVENTION_HELP)
    parser.add_argument("--nsd-tolerance-mm", type=parse_tolerance, default=None, help=NSD_HELP)
    parser.add_argument("--workers", type=int, default=1, help="cases scored in parallel processes (default 1)")
    parser.set_defaults(func=handle_evaluate)


def parse_tolerance(text: str):
    """``--nsd-tolerance-mm``: a number or a JSON object {region: number} (checked by the task)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not a number or JSON object: {text!r}") from exc
    if not isinstance(value, int | float | dict) or isinstance(value, bool):
        raise argparse.ArgumentTypeError(f"expected a number or a JSON object {{region: mm}}, got {text!r}")
    return value


def handle_evaluate(args) -> int:
    """Run the evaluation and print the per-metric means."""
    from segmamba.evaluate.evaluate import run_evaluation, summary_path
    from segmamba.job_timing import work
    from segmamba.tracking.evaluation import log_evaluation

    dataset_file = dataset_file_of(args, "evaluate")
    with work():
        summary = run_evaluation(
            dataset_file.definition,
            args.pred_dir,
            args.gt_dir,
            args.out,
            args.convention,
            args.workers,
            nsd_tolerance=args.nsd_tolerance_mm,
            split=args.split,
        )
    for column, stats in summary["metrics"].items():
        mean = "undefined" if stats["mean"] is None else f"{stats['mean']:.4f}"
        print(f"{column}: mean {mean} (n={stats['n']}, empty={stats['n_empty']})")
    print(f"wrote {args.out} and {summary_path(args.out)}")
    log_evaluation(summary, args.out, args.pred_dir)  # MLflow, when SEGMAMBA_TRACKING is set (segmamba.tracking)
    return 0


def handle_ground_truth(args) -> int:
    """Write the subset's ground-truth label maps."""
    from segmamba.evaluate.ground_truth import export_ground_truth
    from segmamba.job_timing import work

    dataset_file = dataset_file_of(args, "ground-truth")
    with work():
        ids = export_ground_truth(
            dataset_file.reader_name, dataset_file.root, args.split, args.subset, args.out, known=dataset_file.known
        )
    print(f"wrote {len(ids)} {args.subset} label maps to {args.out}")
    return 0
