# Where results lie: the evaluation protocol's folders (docs/protocols.md: `split.scheme` (holdout | cv),
# `split.folds` and `seeds`) and the paths several steps share. No rules live here.


#: holdout (the paper's 70/10/20) or cv (K-fold cross-validation over all cases).
SCHEME = config["split"]["scheme"]

#: Folds of the cross-validation (1: the holdout split).
FOLDS = config["split"]["folds"] if SCHEME == "cv" else 1

#: Training seeds; without `seeds`, the scale's train.seed.
SEEDS = config.get("seeds") or [SCALE["train"].get("seed", 0)]

#: The default protocol (holdout, one training seed) keeps the paths of a run without protocol keys.
DEFAULT_PROTOCOL = SCHEME == "holdout" and SEEDS == [SCALE["train"].get("seed", 0)]

#: Where a fold's split file and test ground truth lie under results/: the dataset's folder (holdout), or its
#: fold's folder (cv).
FOLD_ID = f"{{dataset}}/cv{FOLDS}/fold{{fold}}" if SCHEME == "cv" else "{dataset}"

#: Where one training's models/, predictions/ and metrics/ (and its logs and benchmarks) lie under results/: the
#: dataset's folder for the default protocol, else also the scheme, the fold (cv) and the seed, so a protocol or
#: seed change never reuses another's model and one fold or seed reruns on its own.
if DEFAULT_PROTOCOL:
    RUN_ID = "{dataset}"
elif SCHEME == "cv":
    RUN_ID = f"{FOLD_ID}/seed{{seed}}"
else:
    RUN_ID = "{dataset}/holdout/seed{seed}"


def protocol_runs():
    """Every training per dataset and model as {"fold": k or None, "seed": s or None}: K x len(seeds) for cv,
    one per seed for holdout, one (both None) for the default protocol; seed-major order."""
    if DEFAULT_PROTOCOL:
        return [{"fold": None, "seed": None}]
    folds = range(FOLDS) if SCHEME == "cv" else [None]
    return [{"fold": fold, "seed": seed} for seed in SEEDS for fold in folds]


def run_dir(dataset, run):
    """The folder of one training's models/, predictions/ and metrics/: results/RUN_ID."""
    return f"results/{RUN_ID.format(dataset=dataset, **run)}"


def fold_of(wildcards):
    """The job's {fold} (None without one)."""
    return getattr(wildcards, "fold", None)


def split_path(dataset, fold=None):
    """The split file a training uses: split.json (holdout) or fold `fold`'s split file (cv)."""
    return f"results/{FOLD_ID.format(dataset=dataset, fold=fold)}/split.json"


def gt_path(dataset, fold=None):
    """The test ground truth of the holdout split or of fold `fold` (cv)."""
    return f"results/{FOLD_ID.format(dataset=dataset, fold=fold)}/gt"


def run_split(wildcards):
    """Input function: the split file of the job's {dataset} and {fold}."""
    return split_path(wildcards.dataset, fold_of(wildcards))


def run_gt(wildcards):
    """Input function: the test ground truth of the job's {dataset} and {fold}."""
    return gt_path(wildcards.dataset, fold_of(wildcards))


def dataset_file(dataset):
    """The dataset file that `check` writes and every later step reads (segmamba.data.dataset_file)."""
    return f"results/{dataset}/dataset.json"


def metrics_paths(dataset, models):
    """Per-case metrics CSVs of `models` on `dataset`: {model: path} for the default protocol, else
    {model: [{"path": CSV, "seed": s, "fold": k or None} of every training]}."""
    if DEFAULT_PROTOCOL:
        return {model: f"results/{dataset}/metrics/{model}.csv" for model in models}
    return {
        model: [{"path": f"{run_dir(dataset, run)}/metrics/{model}.csv", **run} for run in protocol_runs()]
        for model in models
    }
