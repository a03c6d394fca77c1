"""Command-line subcommands of the data stage: synth, check, split, fold-split, preprocess."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from segmamba.data.nifti_header import DEFAULT_MAX_VOXELS
from segmamba.data.registry import DATASETS, SYNTHETIC_KINDS
from segmamba.data.settings import PreprocessSettings, SynthSettings
from segmamba.settings import add_settings_arguments, settings_values

DATASET_FILE_HELP = (
    "the dataset file results/<dataset>/dataset.json that `segmamba check --entry` writes (layout, root, "
    "channels, labels, regions, target spacing)"
)

BY_HAND_HELP = "by hand, instead of --dataset-file: a registered layout (with --root)"

NAME_HELP = "the dataset's own name, shown in the output (default: the --dataset layout's name)"

ENTRY_HELP = (
    "the dataset's config entry (datasets.<name> of config.yaml: format, root, regions, target_spacing) as JSON; "
    "resolved and checked, it is written to --write-dataset-file"
)

MAX_VOXELS_HELP = (
    "the most voxels a volume's header may declare; a larger (or forged) header is an error before any voxel "
    "is read (default 2^30)"
)


def add_dataset_args(parser: argparse.ArgumentParser, root_help: str = "by hand: the raw folder of --dataset") -> None:
    """``--dataset-file``, or by hand ``--dataset <layout> --root <folder>`` (see :func:`dataset_file_of`)."""
    parser.add_argument("--dataset-file", help=DATASET_FILE_HELP)
    parser.add_argument("--dataset", choices=tuple(DATASETS), help=BY_HAND_HELP)
    parser.add_argument("--root", help=root_help)


def dataset_file_of(args, command: str):
    """The :class:`~segmamba.data.dataset_file.DatasetFile` of a command: ``--dataset-file``, or the registered
    layout ``--dataset`` at ``--root``; InputError naming the flags otherwise."""
    from segmamba.data.dataset_file import builtin_dataset_file, read_dataset_file
    from segmamba.errors import InputError

    if args.dataset_file:
        if args.dataset or args.root:
            raise InputError(f"{command}: give --dataset-file or --dataset/--root, not both")
        return read_dataset_file(args.dataset_file)
    if not args.dataset:
        raise InputError(f"{command}: give --dataset-file (written by `segmamba check`), or --dataset and --root")
    return builtin_dataset_file(args.dataset, args.root)


def register(subparsers) -> None:
    """Register this step's subcommands on the top-level parser's subparsers."""
    formatter = argparse.RawDescriptionHelpFormatter

    synth = subparsers.add_parser(
        "synth",
        help="write a synthetic stand-in dataset in a real on-disk layout",
        formatter_class=formatter,
        description="Write learnable synthetic NIfTI cases in the real layout: brats -> BraTS 2023 GLI folders "
        "(4 MRI modalities + seg), aiib -> img/ and gt/ (chest CT, airway tree), crc -> nnU-Net raw "
        "layout (abdominal CT, colon tumour). Byte-identical output for the same arguments.",
    )
    synth.add_argument("--kind", required=True, choices=SYNTHETIC_KINDS, help="which dataset to imitate")
    synth.add_argument("--out", required=True, help="output dataset root")
    add_settings_arguments(synth, SynthSettings)
    synth.set_defaults(func=_synth)

    check = subparsers.add_parser(
        "check",
        help="report every problem of a raw dataset, one line each",
        description="Read every case and report each problem (missing or corrupt file, shape or affine mismatch "
        "between channels and label, NaN/Inf, unexpected label values, empty case) as one line naming "
        "the case and the file. Exit 0 with a summary when clean, 1 otherwise. With --entry (the workflow), the "
        "dataset's config entry is resolved first and, when clean, written to --write-dataset-file: the dataset "
        "file that split, preprocess, ground-truth, evaluate and report read (--dataset-file).",
    )
    check.add_argument("--dataset", choices=tuple(DATASETS), help="dataset layout (or --entry)")
    check.add_argument("--root", required=True, help="raw dataset folder")
    check.add_argument("--name", help=NAME_HELP)
    check.add_argument("--entry", help=ENTRY_HELP)
    check.add_argument("--write-dataset-file", help="write the checked dataset file here (results/<name>/dataset.json)")
    check.add_argument("--out", help="also write the report to this file (atomically)")
    check.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    check.add_argument("--max-voxels", type=int, default=DEFAULT_MAX_VOXELS, help=MAX_VOXELS_HELP)
    check.set_defaults(func=_check)

    split = subparsers.add_parser(
        "split",
        help="write the 70/10/20 train/val/test split JSON",
        description="Sort the case ids, shuffle them with the seed, and take floor(70%%) train, floor(10%%) val "
        "and the rest test. The JSON records the seed and a hash of the case list; the same cases and "
        "seed give a byte-identical file. An existing file made for other cases or another seed is an "
        "error (delete it to re-split on purpose). Cross-validation folds: `segmamba fold-split`.",
    )
    add_dataset_args(split)
    split.add_argument("--out", required=True, help="split JSON path")
    split.add_argument("--seed", type=int, default=42, help="shuffle seed (default 42, as published)")
    split.set_defaults(func=_split)

    fold_split = subparsers.add_parser(
        "fold-split",
        help="write one fold's train/val/test split JSON of a K-fold cross-validation",
        description="Shuffle the sorted case ids with the seed (as `split` does) and cut them into --folds folds "
        "whose sizes differ by at most one. Fold --fold's split: test = the fold, val = the floor(10%%) cases "
        "after it in the shuffled order (wrapping around), train = the rest; the JSON has the shape of "
        "`split`'s (plus scheme, folds, fold). An existing file made for other cases, seed or folds is an "
        "error (docs/protocols.md).",
    )
    add_dataset_args(fold_split)
    fold_split.add_argument("--out", required=True, help="the fold's split JSON path")
    fold_split.add_argument("--folds", type=int, required=True, help="number of folds K (2 .. number of cases)")
    fold_split.add_argument("--fold", type=int, required=True, help="the fold written (0 .. K-1)")
    fold_split.add_argument("--seed", type=int, default=42, help="shuffle seed (default 42, as `split`)")
    fold_split.set_defaults(func=_fold_split)

    preprocess = subparsers.add_parser(
        "preprocess",
        help="crop, normalise and resample all cases of a split (nnU-Net style)",
        description="Crop to non-zero (MRI), normalise (MRI z-score per channel; CT clip to the training "
        "foreground 0.5/99.5 percentiles and z-score), resample to the dataset file's target spacing "
        "(default the training median; BraTS 1 mm) and write image.npy, label.npy, fg_locations.npy and "
        "properties.json per case, plus dataset.json (channels, labels, regions) and "
        "fingerprint.json.",
    )
    add_dataset_args(preprocess)
    preprocess.add_argument("--split", required=True, help="split JSON from `segmamba split`")
    preprocess.add_argument("--out", required=True, help="preprocessed output folder")
    add_settings_arguments(preprocess, PreprocessSettings)
    preprocess.add_argument("--max-voxels", type=int, default=DEFAULT_MAX_VOXELS, help=MAX_VOXELS_HELP)
    preprocess.set_defaults(func=_preprocess)


def _synth(args) -> int:
    from segmamba.data.synth import write_synthetic_dataset
    from segmamba.errors import InputError
    from segmamba.io_utils import remove_stale_temporaries
    from segmamba.job_timing import work

    try:
        settings = SynthSettings(**settings_values(args, SynthSettings))
        remove_stale_temporaries(args.out)
        with work():
            ids = write_synthetic_dataset(
                args.kind, args.out, cases=settings.cases, size=settings.size, seed=settings.seed
            )
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    print(f"wrote {len(ids)} synthetic {args.kind} cases to {args.out}")
    return 0


def _check(args) -> int:
    from segmamba.data.check import check_dataset
    from segmamba.io_utils import remove_stale_temporaries, write_text_atomic
    from segmamba.job_timing import work

    with work():
        dataset_file = _checked_definition(args)
        dataset = dataset_file.open(max_voxels=args.max_voxels)
        report = check_dataset(dataset, workers=args.workers, name=args.name)
    warnings = "".join(f"warning: {line}\n" for line in report.warnings)
    if report.ok:
        text = report.summary() + "\n" + warnings
    else:
        text = "".join(line + "\n" for line in report.problems) + warnings
        text += f"{report.dataset}: {len(report.problems)} problem(s) in {args.root}\n"
    sys.stdout.write(text)
    if args.out:
        remove_stale_temporaries(Path(args.out).parent, Path(args.out).name)
        write_text_atomic(args.out, text)
    if report.ok and args.write_dataset_file:
        dataclasses.replace(dataset_file, case_ids=tuple(sorted(dataset.case_ids()))).write(args.write_dataset_file)
    return 0 if report.ok else 1


def _checked_definition(args):
    """The dataset file ``check`` checks and writes: the config entry ``--entry`` of ``--name`` resolved (the
    one place a config entry becomes a definition), or the registered layout ``--dataset``."""
    from segmamba.data.dataset_file import builtin_dataset_file, resolve_dataset_file
    from segmamba.errors import InputError

    if not args.entry:
        if not args.dataset:
            raise InputError("check: give --dataset (a registered layout) or --entry with --name")
        return builtin_dataset_file(args.dataset, args.root)
    if not args.name:
        raise InputError("check --entry: give the dataset's --name (its config key)")
    try:
        entry = json.loads(args.entry)
    except json.JSONDecodeError as exc:
        raise InputError(f"check --entry: not valid JSON ({exc})") from None
    return resolve_dataset_file(args.name, entry, args.root)


def _split(args) -> int:
    from segmamba.data.split import write_split
    from segmamba.io_utils import remove_stale_temporaries
    from segmamba.job_timing import work

    dataset_file = dataset_file_of(args, "split")
    remove_stale_temporaries(Path(args.out).parent, Path(args.out).name)
    with work():
        split = write_split(args.out, dataset_file.open().case_ids(), seed=args.seed)
    print(
        f"split of {split['num_cases']} cases: {len(split['train'])} train, {len(split['val'])} val, "
        f"{len(split['test'])} test -> {args.out}"
    )
    return 0


def _fold_split(args) -> int:
    from segmamba.data.folds import write_fold_split

    case_ids = dataset_file_of(args, "fold-split").open().case_ids()
    split = write_fold_split(args.out, case_ids, args.folds, args.fold, seed=args.seed)
    print(
        f"fold {args.fold} of {args.folds} over {split['num_cases']} cases: {len(split['train'])} train, "
        f"{len(split['val'])} val, {len(split['test'])} test -> {args.out}"
    )
    return 0


def _preprocess(args) -> int:
    from segmamba.data.preprocess import preprocess_dataset
    from segmamba.job_timing import work

    settings = PreprocessSettings(**settings_values(args, PreprocessSettings))
    dataset_file = dataset_file_of(args, "preprocess")
    with work():
        info = preprocess_dataset(
            dataset_file.reader_name,
            dataset_file.root,
            args.split,
            args.out,
            workers=settings.workers,
            target_spacing=dataset_file.target_spacing,
            max_voxels=args.max_voxels,
            known=dataset_file.known,
        )
    print(f"preprocessed {len(info['case_ids'])} cases to {args.out} (target spacing {info['target_spacing']})")
    return 0
