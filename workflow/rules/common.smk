# Utility code of the workflow: config validation and the parse-time checks (a bad root, dataset.json or region
# stops the dry run), wildcard constraints, resources built from config, and the target lists. No rules live
# here. Paths: paths.smk; step arguments: arguments.smk; report inputs: report_inputs.smk. What a dataset is
# travels as the dataset file results/{dataset}/dataset.json that `check` writes (data.smk).

import sys

from snakemake.utils import validate

from segmamba.data.registry import LESION_WISE_DATASET, paper_datasets
from segmamba.data.dataset_config import resolve_dataset


def integers_from_command_line(config):
    """Turn the protocol's integers given as `--config split='{scheme: cv, folds: 5}' seeds='[0, 1]'` into ints:
    Snakemake reads a nested --config value with YAML's BaseLoader, which keeps every scalar a string."""

    def integer(value):
        return int(value) if isinstance(value, str) and value.isdigit() else value

    split = config.get("split")
    if isinstance(split, dict):
        for key in ("seed", "folds"):
            if key in split:
                split[key] = integer(split[key])
    if isinstance(config.get("seeds"), list):
        config["seeds"] = [integer(seed) for seed in config["seeds"]]


integers_from_command_line(config)
validate(config, schema="../schemas/config.schema.yaml")

#: The settings block selected by `scale` (demo or paper).
SCALE = config["scales"][config["scale"]]

#: Registry definitions (segmamba.data.registry) of the configured datasets, resolved on first use.
DATASET_DEFINITIONS = {}


def configured_datasets():
    """Names of all datasets present in config (active or not)."""
    return list(config["datasets"])


def active_datasets():
    """Datasets whose `activate` is true, in config order."""
    return [name for name, entry in config["datasets"].items() if entry["activate"]]


def ablation_active():
    """Whether the ablation (Table 4) runs; its dataset must be configured."""
    if not config["ablation"]["activate"]:
        return False
    if config["ablation"]["dataset"] not in config["datasets"]:
        raise ValueError(
            f"config: ablation.dataset '{config['ablation']['dataset']}' is not listed under datasets "
            f"(configured: {', '.join(configured_datasets())})"
        )
    return True


def efficiency_active():
    """Whether the efficiency measurements (Table 5) run; the dataset they take their shapes from must be configured."""
    if not config["efficiency"]["activate"]:
        return False
    if config["efficiency"]["dataset"] not in config["datasets"]:
        raise ValueError(
            f"config: efficiency.dataset '{config['efficiency']['dataset']}' is not listed under datasets "
            f"(configured: {', '.join(configured_datasets())})"
        )
    return True


def is_synthetic(dataset):
    """True when a dataset has no configured root and runs on its synthetic stand-in."""
    return not config["datasets"].get(dataset, {}).get("root")


def models_for(dataset):
    """Models trained on a dataset: the compared methods if it is active, plus the ablation variants."""
    models = list(config["models"]) if dataset in active_datasets() else []
    if ablation_active() and dataset == config["ablation"]["dataset"]:
        models += [m for m in config["ablation"]["models"] if m not in models]
    return models


def trained_datasets():
    """Datasets on which at least one model is trained."""
    return [d for d in configured_datasets() if models_for(d)]


def dataset_definition(dataset):
    """A configured dataset's definition: layout, labels and regions (an nnU-Net dataset's from its dataset.json).

    Raises ConfigError naming the dataset and the path when its root or dataset.json is missing or invalid.
    """
    if dataset not in DATASET_DEFINITIONS:
        DATASET_DEFINITIONS[dataset] = resolve_dataset(dataset, config["datasets"][dataset])
    return DATASET_DEFINITIONS[dataset]


def check_datasets():
    """Resolve every dataset the run uses, so that a bad root or dataset.json stops the dry run."""
    for dataset in trained_datasets() + ([config["efficiency"]["dataset"]] if efficiency_active() else []):
        dataset_definition(dataset)


check_datasets()


def all_model_names():
    """Every model name any part of the workflow uses (for the wildcard constraint)."""
    names = list(config["models"]) + list(config["ablation"]["models"]) + list(config["efficiency"]["models"])
    return list(dict.fromkeys(names))


def check_models():
    """Fail while parsing (the dry run) on a patch size a model rejects, an unknown `model_overrides` key or an
    override the model's constructor rejects, naming the config key and the model.

    Key and patch-size rules need no torch. The constructors (for models with overrides) import torch and
    MONAI; they run in the main Snakemake process only (not again in every job), and the
    configurations that passed are cached in .snakemake/segmamba/model-checks.json.
    """
    try:
        from segmamba.models.preflight import ModelUse, check_model_uses
    except ImportError as error:  # Snakemake started from an environment without the package
        print(f"warning: model configuration not checked ({error})", file=sys.stderr)
        return
    prefix = f"scales.{config['scale']}"
    trained = [model for dataset in trained_datasets() for model in models_for(dataset)]
    measured = config["efficiency"]["models"] if efficiency_active() else []
    overrides = SCALE["model_overrides"]
    uses = []
    for model in dict.fromkeys([*trained, *measured, *overrides]):
        patch_sizes = {}
        if model in trained:
            patch_sizes[f"{prefix}.train.patch_size"] = SCALE["train"]["patch_size"]
        if model in measured:
            for size in SCALE["efficiency"]["sizes"]:
                patch_sizes[f"{prefix}.efficiency.sizes ({size})"] = [size] * 3
        uses.append(ModelUse(model, overrides.get(model, {}), f"{prefix}.model_overrides.{model}", patch_sizes))
    in_channels, out_channels = efficiency_channels() if efficiency_active() else (1, 2)
    check_model_uses(
        uses,
        construct=workflow.is_main_process,
        cache=".snakemake/segmamba/model-checks.json",
        in_channels=in_channels,
        out_channels=out_channels,
    )


wildcard_constraints:
    dataset="|".join(configured_datasets()),
    model="|".join(all_model_names()),
    size=r"\d+",
    folds=r"\d+",
    fold=r"\d+",
    seed=r"\d+",


# ---------------------------------------------------------------------------------------------------------
# Datasets and models of the targets


def dataset_table_names():
    """Active datasets that the paper does not report (your own): each gets results/tables/<name>.{csv,md,tex}."""
    return [d for d in active_datasets() if dataset_definition(d).paper_table is None]


def efficiency_channels():
    """(input channels, output classes) of the efficiency measurements: those of `efficiency.dataset`."""
    info = dataset_definition(config["efficiency"]["dataset"]).require_info()
    return len(info.channel_names), info.num_classes


# ---------------------------------------------------------------------------------------------------------
# Resources (scaled from config; runtime grows with the attempt under --retries)


def gpu_count(kind):
    """GPUs requested by a job kind (train, predict, efficiency)."""
    return SCALE["resources"][kind]["gpus"]


def cpus_per_gpu(kind):
    """CPU cores per GPU of a job kind."""
    return SCALE["resources"][kind]["cpus_per_gpu"]


def job_threads(kind):
    """Local threads of a job kind: cpus_per_gpu x max(gpus, 1) for GPU kinds, `cpus` for CPU jobs."""
    resources = SCALE["resources"][kind]
    if kind == "cpu":
        return resources["cpus"]
    return resources["cpus_per_gpu"] * max(resources["gpus"], 1)


def memory_mb(kind):
    """Memory (MB) of a job kind."""
    return SCALE["resources"][kind]["mem_mb"]


def runtime_minutes(kind):
    """A resource callable: the job kind's runtime in minutes times the attempt number, at most the scale's
    `resources.max_runtime` (when set)."""

    def runtime(wildcards, attempt):
        minutes = SCALE["resources"][kind]["runtime"] * attempt
        cap = SCALE["resources"].get("max_runtime")
        return minutes if cap is None else min(minutes, cap)

    return runtime


# ---------------------------------------------------------------------------------------------------------
# Targets


def preprocess_targets():
    """Dataset check, split, preprocessed data and test ground truth of every dataset with trainings."""
    targets = []
    folds = range(FOLDS) if SCHEME == "cv" else [None]
    for dataset in trained_datasets():
        targets += [
            f"results/{dataset}/check.txt",
            f"results/{dataset}/split.json",
            f"results/{dataset}/preprocessed",
        ]
        targets += [path(dataset, fold) for fold in folds for path in (split_path, gt_path)]
    return list(dict.fromkeys(targets))


def train_targets():
    """Final checkpoints of every (dataset, model, fold, seed) training."""
    return [
        f"{run_dir(dataset, run)}/models/{model}/checkpoint_final.pt"
        for dataset in trained_datasets()
        for model in models_for(dataset)
        for run in protocol_runs()
    ]


def table_targets():
    """The paper tables, the tables of datasets of your own, and every trained dataset's cost and rank-stability
    table (with BraTS2023 active also the lesion-wise table): CSV, Markdown, LaTeX."""
    paper_tables = [t for t in ("table2", "table3") if any(d in active_datasets() for d in paper_datasets(t))]
    names = paper_tables + dataset_table_names()
    if ablation_active():
        names.append("table4")
    if efficiency_active():
        names.append("table5")
    names += [f"{kind}_{dataset}" for dataset in trained_datasets() for kind in ("cost", "rank_stability")]
    if LESION_WISE_DATASET in active_datasets():
        names.append("table2_lesionwise")
    return [f"results/tables/{name}.{ext}" for name in names for ext in ("csv", "md", "tex")]


def figure_targets():
    """The paper figures, and the rank blob plot and significance map of every trained dataset."""
    kinds = ("fig4", "training_curves", "rank_blobs", "significance")
    figures = [f"results/figures/{kind}_{dataset}.png" for dataset in trained_datasets() for kind in kinds]
    return figures + (["results/figures/efficiency.png"] if efficiency_active() else [])


def efficiency_targets():
    """Efficiency JSONs, Table 5 and the efficiency chart (empty when deactivated)."""
    if not efficiency_active():
        return []
    tables = [f"results/tables/table5.{ext}" for ext in ("csv", "md", "tex")]
    return efficiency_paths() + tables + ["results/figures/efficiency.png"]


def ablation_targets():
    """Table 4 (empty when the ablation is deactivated)."""
    return [f"results/tables/table4.{ext}" for ext in ("csv", "md", "tex")] if ablation_active() else []


def metrics_targets():
    """Per-case metrics CSVs of every (dataset, model) training (also those of the ablation variants)."""
    return [
        f"{run_dir(dataset, run)}/metrics/{model}.csv"
        for dataset in trained_datasets()
        for model in models_for(dataset)
        for run in protocol_runs()
    ]


def final_outputs():
    """Everything the default target `all` builds: every table and figure, and every metrics CSV."""
    return table_targets() + figure_targets() + metrics_targets()


# Parse-time checks of every model the configuration uses (after all helpers above are defined).
check_models()
