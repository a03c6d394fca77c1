# Utility code of the workflow: config validation, wildcard constraints, input functions, command-line
# arguments and resources built from config, and the target lists. No rules live here.

import json

from snakemake.utils import validate


validate(config, schema="../schemas/config.schema.yaml")

#: The settings block selected by `scale` (demo or paper).
SCALE = config["scales"][config["scale"]]

#: `segmamba synth --kind` of each dataset's synthetic stand-in.
SYNTH_KIND = {"brats2023": "brats", "aiib2023": "aiib", "crc500": "crc"}


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
    """Whether the efficiency measurements (Table 5) run."""
    return config["efficiency"]["activate"]


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


def all_model_names():
    """Every model name any part of the workflow uses (for the wildcard constraint)."""
    names = list(config["models"]) + list(config["ablation"]["models"]) + list(config["efficiency"]["models"])
    return list(dict.fromkeys(names))


wildcard_constraints:
    dataset="|".join(configured_datasets()),
    model="|".join(all_model_names()),
    size=r"\d+",


# ---------------------------------------------------------------------------------------------------------
# Inputs


def synth_kind(wildcards):
    """`segmamba synth --kind` of a dataset's synthetic stand-in."""
    return SYNTH_KIND[wildcards.dataset]


def raw_root(wildcards):
    """The raw data folder of a dataset: the configured root, or the synthetic stand-in's folder."""
    if is_synthetic(wildcards.dataset):
        return f"results/data/{wildcards.dataset}"
    return ancient(config["datasets"][wildcards.dataset]["root"])


def metrics_paths(dataset, models):
    """Per-case metrics CSVs of `models` on `dataset`, as {model: path}."""
    return {model: f"results/{dataset}/metrics/{model}.csv" for model in models}


def table2_layout():
    """{dataset: {model: metrics CSV}} for Table 2 (BraTS2023 and AIIB2023, the compared methods)."""
    return {d: metrics_paths(d, config["models"]) for d in ("brats2023", "aiib2023") if d in active_datasets()}


def table3_layout():
    """{model: metrics CSV} for Table 3 (CRC-500, the compared methods)."""
    return metrics_paths("crc500", config["models"]) if "crc500" in active_datasets() else {}


def table4_layout():
    """{model: metrics CSV} for Table 4 (the ablation variants on the ablation dataset)."""
    return metrics_paths(config["ablation"]["dataset"], config["ablation"]["models"])


#: Models with a global self-attention mixer (constructor keyword `attention_kernel`). Table 5 measures them with
#: the explicit L x L attention (`math`: memory quadratic in L, out of memory at 128³ as in the paper); with
#: `efficiency: fused_attention_row` also with PyTorch's fused kernel (`auto`), as a row of its own.
ATTENTION_MODELS = ("segmamba_m6",)

#: Efficiency variants: file-name suffix -> (attention kernel, `--variant` label); "" is the model as in Table 5.
EFFICIENCY_VARIANTS = {"": ("math", None), "_fused-attention": ("auto", "fused attention")}


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
    """All paths of a {key: path} or {key: {key: path}} layout, as a list."""
    paths = []
    for value in layout.values():
        paths += flat_paths(value) if isinstance(value, dict) else [value]
    return paths


def synthetic_flags():
    """{dataset: True if it runs on synthetic data}, for the tables' notes."""
    return {dataset: is_synthetic(dataset) for dataset in configured_datasets()}


def figure4_inputs(wildcards):
    """Inputs of one dataset's Fig. 4 panel: raw data, split, ground truth and each model's predictions."""
    return {
        "root": raw_root(wildcards),
        "split": f"results/{wildcards.dataset}/split.json",
        "gt": f"results/{wildcards.dataset}/gt",
        "predictions": [f"results/{wildcards.dataset}/predictions/{m}" for m in figure_models(wildcards.dataset)],
    }


def figure_models(dataset):
    """Models shown in a dataset's Fig. 4 panel and training curves (the compared methods, else the variants)."""
    return list(config["models"]) if dataset in active_datasets() else models_for(dataset)


def figure_models_of(wildcards):
    """Input-function form of `figure_models` for the job's {dataset} wildcard."""
    return figure_models(wildcards.dataset)


def training_logs(wildcards):
    """train_log.csv of every model trained on a dataset."""
    return [f"results/{wildcards.dataset}/models/{m}/train_log.csv" for m in figure_models(wildcards.dataset)]


# ---------------------------------------------------------------------------------------------------------
# Command-line arguments (params, so that a changed setting reruns the affected jobs)


def model_overrides(model):
    """The model's constructor overrides of the selected scale, as a JSON string ("{}" when none)."""
    return json.dumps(SCALE["model_overrides"].get(model, {}), sort_keys=True, separators=(",", ":"))


def model_overrides_of(wildcards):
    """Input-function form of `model_overrides` for the job's {model} wildcard."""
    return model_overrides(wildcards.model)


def train_arguments(wildcards):
    """`segmamba train` options from the selected scale (everything except the paths)."""
    train = SCALE["train"]
    gpus = SCALE["resources"]["train"]["gpus"]
    args = [
        f"--epochs {train['epochs']}",
        f"--iters-per-epoch {train['iters_per_epoch']}",
        "--patch-size " + " ".join(str(edge) for edge in train["patch_size"]),
        f"--batch-size {train['batch_size']}",
        f"--lr {train['lr']}",
        f"--val-every {train['val_every']}",
        f"--num-workers {train['num_workers']}",
        f"--seed {train['seed']}",
    ]
    if train["max_val_cases"] is not None:
        args.append(f"--max-val-cases {train['max_val_cases']}")
    if not train["amp"]:
        args.append("--no-amp")
    if gpus > 1:
        args.append(f"--nproc {gpus}")
    return " ".join(args)


def predict_arguments(wildcards):
    """`segmamba predict` options from the selected scale."""
    predict = SCALE["predict"]
    args = [f"--overlap {predict['overlap']}", f"--sw-batch-size {predict['sw_batch_size']}"]
    if not predict["tta"]:
        args.append("--no-tta")
    return " ".join(args)


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
    """A resource callable: the job kind's runtime in minutes times the attempt number."""

    def runtime(wildcards, attempt):
        return SCALE["resources"][kind]["runtime"] * attempt

    return runtime


# ---------------------------------------------------------------------------------------------------------
# Targets


def preprocess_targets():
    """Dataset check, split, preprocessed data and test ground truth of every dataset with trainings."""
    targets = []
    for dataset in trained_datasets():
        targets += [
            f"results/{dataset}/check.txt",
            f"results/{dataset}/split.json",
            f"results/{dataset}/preprocessed",
            f"results/{dataset}/gt",
        ]
    return targets


def train_targets():
    """Final checkpoints of every (dataset, model) training."""
    return [
        f"results/{dataset}/models/{model}/checkpoint_final.pt"
        for dataset in trained_datasets()
        for model in models_for(dataset)
    ]


def table_targets():
    """The paper tables (CSV, Markdown, LaTeX) the configuration produces."""
    names = []
    if table2_layout():
        names.append("table2")
    if table3_layout():
        names.append("table3")
    if ablation_active():
        names.append("table4")
    if efficiency_active():
        names.append("table5")
    return [f"results/tables/{name}.{ext}" for name in names for ext in ("csv", "md", "tex")]


def figure_targets():
    """The paper figures the configuration produces."""
    figures = []
    for dataset in trained_datasets():
        figures += [f"results/figures/fig4_{dataset}.png", f"results/figures/training_curves_{dataset}.png"]
    if efficiency_active():
        figures.append("results/figures/efficiency.png")
    return figures


def efficiency_targets():
    """Efficiency JSONs, Table 5 and the efficiency chart (empty when deactivated)."""
    if not efficiency_active():
        return []
    tables = [f"results/tables/table5.{ext}" for ext in ("csv", "md", "tex")]
    return efficiency_paths() + tables + ["results/figures/efficiency.png"]


def ablation_targets():
    """Table 4 (empty when the ablation is deactivated)."""
    return [f"results/tables/table4.{ext}" for ext in ("csv", "md", "tex")] if ablation_active() else []


def final_outputs():
    """Everything the default target `all` builds: every table and figure."""
    return table_targets() + figure_targets()
