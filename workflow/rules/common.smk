# Utility code of the workflow: config validation, wildcard constraints, input functions, command-line
# arguments and resources built from config, and the target lists. No rules live here.

import json
import os
import shlex
import sys

from snakemake.utils import validate

from segmamba.data.registry import LESION_WISE_DATASET, NNUNET, paper_datasets
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
# The evaluation protocol (docs/protocols.md): `split.scheme` (holdout | cv), `split.folds` and `seeds`.

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


def train_settings(wildcards):
    """`segmamba train --settings`: the scale's train block, with the job's {seed} when the protocol has one."""
    if DEFAULT_PROTOCOL:
        return stage_settings("train")
    settings = json.loads(stage_settings("train"))
    settings["seed"] = int(wildcards.seed)
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------
# Inputs


def synth_kind(wildcards):
    """`segmamba synth --kind` of a dataset's synthetic stand-in (only the paper's datasets have one)."""
    kind = dataset_definition(wildcards.dataset).synthetic_kind
    if kind is None:
        raise ValueError(f"config datasets.{wildcards.dataset}: no synthetic stand-in; set its root")
    return kind


def dataset_layout(wildcards):
    """The `--dataset` of the `segmamba` data and evaluation commands: the dataset's layout."""
    return dataset_definition(wildcards.dataset).layout


def evaluation_root(wildcards):
    """The raw root of an nnU-Net dataset, whose dataset.json names the labels evaluated (else nothing)."""
    return raw_root(wildcards) if dataset_layout(wildcards) == NNUNET else []


def raw_root(wildcards):
    """The raw data folder of a dataset: the configured root, or the synthetic stand-in's folder."""
    if is_synthetic(wildcards.dataset):
        return f"results/data/{wildcards.dataset}"
    return ancient(config["datasets"][wildcards.dataset]["root"])


def metrics_paths(dataset, models):
    """Per-case metrics CSVs of `models` on `dataset`: {model: path} for the default protocol, else
    {model: [{"path": CSV, "seed": s, "fold": k or None} of every training]}."""
    if DEFAULT_PROTOCOL:
        return {model: f"results/{dataset}/metrics/{model}.csv" for model in models}
    return {
        model: [{"path": f"{run_dir(dataset, run)}/metrics/{model}.csv", **run} for run in protocol_runs()]
        for model in models
    }


def paper_table_layout(table):
    """{dataset: {model: metrics CSV}} of the compared methods in a paper table (table2: BraTS2023 and AIIB2023,
    table3: CRC-500): its registry datasets that are active."""
    return {d: metrics_paths(d, config["models"]) for d in paper_datasets(table) if d in active_datasets()}


def dataset_table_names():
    """Active datasets that the paper does not report (your own): each gets results/tables/<name>.{csv,md,tex}."""
    return [d for d in active_datasets() if dataset_definition(d).paper_table is None]


def dataset_table_layout(wildcards):
    """{model: metrics CSV} of the compared methods in the table of a dataset of your own."""
    return metrics_paths(wildcards.dataset, config["models"])


def dataset_table_metrics(wildcards):
    """The metrics CSVs of a dataset of your own's table, as a list (the rule's input)."""
    return flat_paths(dataset_table_layout(wildcards))


def table4_layout():
    """{model: metrics CSV} for Table 4 (the ablation variants on the ablation dataset)."""
    return metrics_paths(config["ablation"]["dataset"], config["ablation"]["models"])


def outcome_files(dataset, models):
    """What tells whether each model's training collapsed: {model: {"train_summary": train_summary.json,
    "metrics_summary": the evaluation summary beside its metrics CSV}}; for a protocol with several trainings a
    list of these, one per training (with its "seed" and "fold")."""

    def files(model, run):
        return {
            "train_summary": f"{run_dir(dataset, run)}/models/{model}/train_summary.json",
            "metrics_summary": f"{run_dir(dataset, run)}/metrics/{model}.summary.json",
        }

    if DEFAULT_PROTOCOL:
        return {model: files(model, protocol_runs()[0]) for model in models}
    return {model: [{**files(model, run), **run} for run in protocol_runs()] for model in models}


def paper_table_outcome_files(table):
    """{dataset: outcome_files} of a paper table's trainings."""
    return {d: outcome_files(d, config["models"]) for d in paper_datasets(table) if d in active_datasets()}


def dataset_table_outcome_files(wildcards):
    """outcome_files of the trainings in a dataset of your own's table."""
    return outcome_files(wildcards.dataset, config["models"])


def dataset_table_outcomes(wildcards):
    """The files of dataset_table_outcome_files, as a list (the rule's input)."""
    return flat_paths(dataset_table_outcome_files(wildcards))


def table4_outcome_files():
    """outcome_files of the ablation's trainings."""
    return outcome_files(config["ablation"]["dataset"], config["ablation"]["models"])


#: Models with a global self-attention mixer (constructor keyword `attention_kernel`). Table 5 measures them with
#: the explicit L x L attention (`math`: memory quadratic in L, out of memory at 128³ as in the paper); with
#: `efficiency: fused_attention_row` also with PyTorch's fused kernel (`auto`), as a row of its own.
ATTENTION_MODELS = ("segmamba_m6",)

#: Efficiency variants: file-name suffix -> (attention kernel, `--variant` label); "" is the model as in Table 5.
EFFICIENCY_VARIANTS = {"": ("math", None), "_fused-attention": ("auto", "fused attention")}


def efficiency_channels():
    """(input channels, output classes) of the efficiency measurements: those of `efficiency.dataset`."""
    info = dataset_definition(config["efficiency"]["dataset"]).require_info()
    return len(info.channel_names), info.num_classes


def efficiency_in_channels(wildcards):
    """`segmamba efficiency --in-channels`: the channels of `efficiency.dataset`."""
    return efficiency_channels()[0]


def efficiency_out_channels(wildcards):
    """`segmamba efficiency --out-channels`: the classes (background included) of `efficiency.dataset`."""
    return efficiency_channels()[1]


def efficiency_paths():
    """Efficiency result JSONs of every configured model and size, in table order (a fused-attention row
    follows its model's when `efficiency: fused_attention_row` is set)."""
    fused = config["efficiency"].get("fused_attention_row", False)
    return [
        f"results/efficiency/{model}{variant}_{size}.json"
        for model in config["efficiency"]["models"]
        for size in SCALE["efficiency"]["sizes"]
        for variant in EFFICIENCY_VARIANTS
        if not variant or (fused and model in ATTENTION_MODELS)
    ]


def efficiency_overrides(wildcards):
    """`--model-overrides` of an efficiency job: the scale's overrides, plus the attention kernel of the job's
    variant for models with self-attention (see ATTENTION_MODELS)."""
    overrides = json.loads(model_overrides(wildcards.model))
    if wildcards.model in ATTENTION_MODELS:
        overrides["attention_kernel"] = EFFICIENCY_VARIANTS[wildcards.variant][0]
    return json.dumps(overrides, sort_keys=True, separators=(",", ":"))


def efficiency_variant_option(wildcards):
    """`--variant 'label'` of a variant's job, empty for the model as in Table 5."""
    label = EFFICIENCY_VARIANTS[wildcards.variant][1]
    return f"--variant '{label}'" if label else ""


def flat_paths(layout):
    """All paths (strings) of a layout of nested dicts and lists, as a list (a run's seed and fold are skipped)."""
    paths = []
    for value in layout.values() if isinstance(layout, dict) else layout:
        if isinstance(value, (dict, list)):
            paths += flat_paths(value)
        elif isinstance(value, str):
            paths.append(value)
    return paths


def synthetic_flags():
    """{dataset: True if it runs on synthetic data}, for the tables' notes."""
    return {dataset: is_synthetic(dataset) for dataset in configured_datasets()}


def synthetic_flag(wildcards):
    """Whether the job's {dataset} runs on synthetic data."""
    return is_synthetic(wildcards.dataset)


def dataset_entry(wildcards):
    """The config entry of the job's {dataset} (the tables resolve a dataset of your own's metrics from it)."""
    return config["datasets"][wildcards.dataset]


def report_category(paper_category):
    """A report category of a dataset's results: `paper_category` for the paper's datasets, the dataset's own
    name for a dataset of your own (its table, Fig. 4 and training curves together)."""

    def category(wildcards):
        return paper_category if dataset_definition(wildcards.dataset).paper_table else wildcards.dataset

    return category


def report_subcategory(own_subcategory):
    """The matching subcategory: the dataset's name under a paper category, else `own_subcategory`."""

    def subcategory(wildcards):
        return wildcards.dataset if dataset_definition(wildcards.dataset).paper_table else own_subcategory

    return subcategory


#: The training the figures show (Fig. 4, training curves): the first (fold 0, first seed) of the protocol.
FIGURE_RUN = protocol_runs()[0]


def figure4_inputs(wildcards):
    """Inputs of one dataset's Fig. 4 panel: raw data, split, ground truth and each model's predictions."""
    dataset = wildcards.dataset
    return {
        "root": raw_root(wildcards),
        "split": split_path(dataset, FIGURE_RUN["fold"]),
        "gt": gt_path(dataset, FIGURE_RUN["fold"]),
        "predictions": [f"{run_dir(dataset, FIGURE_RUN)}/predictions/{m}" for m in figure_models(dataset)],
    }


def report_inputs(**inputs):
    """`segmamba report --inputs`: an artefact's inputs as compact JSON (a param, so a change reruns the report).

    Keys keep their order: the order of the models in a layout is the order of the table's rows.
    """
    return json.dumps(inputs, separators=(",", ":"))


def paper_table_inputs(table):
    """`--inputs` of Table 2 or 3: metrics layout, training outcomes and which datasets are synthetic."""
    return report_inputs(
        layout=paper_table_layout(table),
        outcome_files=paper_table_outcome_files(table),
        synthetic=synthetic_flags(),
    )


def dataset_table_inputs(wildcards):
    """`--inputs` of a dataset of your own's table."""
    return report_inputs(
        dataset=wildcards.dataset,
        entry=dataset_entry(wildcards),
        layout=dataset_table_layout(wildcards),
        outcome_files=dataset_table_outcome_files(wildcards),
        synthetic=synthetic_flag(wildcards),
    )


def table4_inputs():
    """`--inputs` of Table 4: the ablation's metrics, outcomes and dataset (with its config entry)."""
    dataset = config["ablation"]["dataset"]
    return report_inputs(
        layout=table4_layout(),
        outcome_files=table4_outcome_files(),
        dataset=dataset,
        entry=config["datasets"].get(dataset, {}),
        synthetic=is_synthetic(dataset),
    )


def figure4_report_inputs(wildcards):
    """`--inputs` of one dataset's Fig. 4 panel: layout, raw root, split, ground truth, {model: predictions}."""
    dataset = wildcards.dataset
    root = f"results/data/{dataset}" if is_synthetic(dataset) else config["datasets"][dataset]["root"]
    return report_inputs(
        dataset=dataset,
        layout=dataset_layout(wildcards),
        root=root,
        split_path=split_path(dataset, FIGURE_RUN["fold"]),
        gt_dir=gt_path(dataset, FIGURE_RUN["fold"]),
        prediction_dirs={m: f"{run_dir(dataset, FIGURE_RUN)}/predictions/{m}" for m in figure_models(dataset)},
    )


def training_curves_inputs(wildcards):
    """`--inputs` of one dataset's training curves: {model: train_log.csv}."""
    dataset = wildcards.dataset
    logs = {m: f"{run_dir(dataset, FIGURE_RUN)}/models/{m}/train_log.csv" for m in figure_models(dataset)}
    return report_inputs(dataset=dataset, logs=logs)


def cost_table_runs(dataset):
    """{training: {"train_summary": path, "predictions": folder}} of every training on a dataset (cost table): one
    per model, or under a protocol one per model, fold and seed (keyed "<model> (fold k, seed s)")."""

    def name(model, run):
        where = ", ".join(f"{key} {value}" for key, value in run.items() if value is not None)
        return f"{model} ({where})" if where else model

    return {
        name(model, run): {
            "train_summary": f"{run_dir(dataset, run)}/models/{model}/train_summary.json",
            "predictions": f"{run_dir(dataset, run)}/predictions/{model}",
        }
        for model in models_for(dataset)
        for run in protocol_runs()
    }


def cost_table_files(wildcards):
    """The files of a dataset's cost table, as a list (the rule's input)."""
    return flat_paths(cost_table_runs(wildcards.dataset))


def cost_table_inputs(wildcards):
    """`--inputs` of a dataset's cost table: the dataset and its runs."""
    return report_inputs(dataset=wildcards.dataset, runs=cost_table_runs(wildcards.dataset))


def figure_models(dataset):
    """Models shown in a dataset's Fig. 4 panel and training curves (the compared methods, else the variants)."""
    return list(config["models"]) if dataset in active_datasets() else models_for(dataset)


def training_logs(wildcards):
    """train_log.csv of every model trained on a dataset."""
    dataset = wildcards.dataset
    return [f"{run_dir(dataset, FIGURE_RUN)}/models/{m}/train_log.csv" for m in figure_models(dataset)]


# Statistics reports (report.smk): the accuracy tables' `statistics` input, the rank artefacts' inputs, the
# BraTS lesion-wise table's inputs and their targets.


def statistics_settings():
    """The `statistics` input of the accuracy and rank artefacts (config `report`, defaults as the schema's)."""
    settings = config.get("report") or {}
    return {
        "reference": settings.get("reference_method", "segmamba"),
        "resamples": settings.get("bootstrap_resamples", 10000),
        "seed": settings.get("bootstrap_seed", 0),
    }


def with_statistics(inputs):
    """`--inputs` JSON with the statistics settings added."""
    return report_inputs(**json.loads(inputs), statistics=statistics_settings())


def dataset_table_statistics_inputs(wildcards):
    """`--inputs` of a dataset of your own's table, with the statistics settings."""
    return with_statistics(dataset_table_inputs(wildcards))


def rank_layout(wildcards):
    """{model: metrics CSV} of the models ranked on a dataset (those of its Fig. 4 and training curves)."""
    return metrics_paths(wildcards.dataset, figure_models(wildcards.dataset))


def rank_metrics(wildcards):
    """The metrics CSVs of a dataset's rank artefacts, as a list (the rules' input)."""
    return flat_paths(rank_layout(wildcards))


def rank_inputs(wildcards):
    """`--inputs` of a dataset's rank-stability table, blob plot and significance map."""
    return report_inputs(
        dataset=wildcards.dataset,
        layout=rank_layout(wildcards),
        entry=config["datasets"].get(wildcards.dataset, {}),
        statistics=statistics_settings(),
    )


def lesionwise_inputs():
    """`--inputs` of the BraTS lesion-wise table: Table 2's BraTS2023 metrics, outcomes and statistics."""
    models = config["models"]
    return report_inputs(
        layout=metrics_paths(LESION_WISE_DATASET, models),
        outcome_files=outcome_files(LESION_WISE_DATASET, models),
        synthetic=is_synthetic(LESION_WISE_DATASET),
        statistics=statistics_settings(),
    )


def statistics_table_targets():
    """The rank-stability table of every trained dataset and, with BraTS2023 active, the lesion-wise table."""
    names = [f"rank_stability_{dataset}" for dataset in trained_datasets()]
    if LESION_WISE_DATASET in active_datasets():
        names.append("table2_lesionwise")
    return [f"results/tables/{name}.{ext}" for name in names for ext in ("csv", "md", "tex")]


def statistics_figure_targets():
    """The rank blob plot and the significance map of every trained dataset."""
    return [
        f"results/figures/{kind}_{dataset}.png"
        for dataset in trained_datasets()
        for kind in ("rank_blobs", "significance")
    ]


# ---------------------------------------------------------------------------------------------------------
# Command-line arguments (params, so that a changed setting reruns the affected jobs)


def model_overrides(model):
    """The model's constructor overrides of the selected scale, as a JSON string ("{}" when none)."""
    return json.dumps(SCALE["model_overrides"].get(model, {}), sort_keys=True, separators=(",", ":"))


def model_overrides_of(wildcards):
    """Input-function form of `model_overrides` for the job's {model} wildcard."""
    return model_overrides(wildcards.model)


def stage_settings(block, exclude=()):
    """`--settings` of a step: the selected scale's settings block as compact JSON (a param, so a changed setting
    reruns the step's jobs). The block's keys are the fields of the step's settings dataclass; the schema's
    defaults are the dataclass defaults."""
    settings = {key: value for key, value in SCALE[block].items() if key not in exclude}
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


def export_tracking():
    """Hand the config's `tracking` block to the jobs in SEGMAMBA_TRACKING (segmamba.tracking), or clear it when
    tracking is off. An environment variable, not a param: a changed tracking server must not rerun any job."""
    mlflow = config.get("tracking", {}).get("mlflow") or {}
    if mlflow.get("uri"):
        os.environ.update(SEGMAMBA_TRACKING=json.dumps({"mlflow": mlflow}, separators=(",", ":")))
    else:
        os.environ.pop("SEGMAMBA_TRACKING", None)


export_tracking()


def train_processes():
    """`segmamba train --nproc`: one DDP process per requested GPU (1 without GPUs)."""
    return max(SCALE["resources"]["train"]["gpus"], 1)


def preprocess_arguments(wildcards):
    """`segmamba preprocess` options of a dataset: configured target spacing and (nnU-Net) regions."""
    entry = config["datasets"][wildcards.dataset]
    args = []
    if entry.get("target_spacing"):
        spacing = " ".join(str(s) for s in entry["target_spacing"])
        args.append(f"--target-spacing {spacing}")
    if entry.get("regions"):
        args.append(f"--regions {regions_argument(wildcards.dataset)}")
    return " ".join(args)


def evaluation_arguments(wildcards):
    """`segmamba evaluate` options of an nnU-Net dataset: its root (labels) and configured regions."""
    if dataset_layout(wildcards) != NNUNET:
        return ""
    args = [f"--root {shlex.quote(config['datasets'][wildcards.dataset]['root'])}"]
    if config["datasets"][wildcards.dataset].get("regions"):
        args.append(f"--regions {regions_argument(wildcards.dataset)}")
    return " ".join(args)


def regions_argument(dataset):
    """A dataset's checked regions as a shell-quoted JSON object."""
    regions = dataset_definition(dataset).info.regions
    return shlex.quote(json.dumps(regions, separators=(",", ":")))


def nsd_tolerance_argument(wildcards):
    """The dataset's `evaluation.nsd_tolerance_mm` (one number, or {region: mm}) as shell-quoted JSON."""
    tolerance = config["evaluation"]["nsd_tolerance_mm"]
    if isinstance(tolerance, dict):
        tolerance = tolerance.get(wildcards.dataset, 1.0)
    return shlex.quote(json.dumps(tolerance, separators=(",", ":")))


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
    """The paper tables and the tables of datasets of your own (CSV, Markdown, LaTeX) the configuration produces."""
    names = [table for table in ("table2", "table3") if paper_table_layout(table)] + dataset_table_names()
    if ablation_active():
        names.append("table4")
    if efficiency_active():
        names.append("table5")
    names += [f"cost_{dataset}" for dataset in trained_datasets()]  # cost tables (report_cost_table)
    tables = [f"results/tables/{name}.{ext}" for name in names for ext in ("csv", "md", "tex")]
    return tables + statistics_table_targets()  # report.smk


def figure_targets():
    """The paper figures the configuration produces."""
    figures = []
    for dataset in trained_datasets():
        figures += [f"results/figures/fig4_{dataset}.png", f"results/figures/training_curves_{dataset}.png"]
    if efficiency_active():
        figures.append("results/figures/efficiency.png")
    return figures + statistics_figure_targets()  # report.smk


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
