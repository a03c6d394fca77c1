# Command-line arguments of the step rules, built from config (params, so that a changed setting reruns the
# affected jobs): the settings blocks of the selected scale, and each step's own options. No rules live here.
# What a dataset is does not travel as arguments: `check` writes it to results/{dataset}/dataset.json (the
# dataset file, segmamba.data.dataset_file) and every later step reads that file.

import json
import os
import shlex


def model_overrides(model):
    """The model's constructor overrides of the selected scale, as a JSON string ("{}" when none)."""
    return json.dumps(SCALE["model_overrides"].get(model, {}), sort_keys=True, separators=(",", ":"))


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


# ---------------------------------------------------------------------------------------------------------
# data (data.smk)


def synth_kind(wildcards):
    """`segmamba synth --kind` of a dataset's synthetic stand-in (only the paper's datasets have one)."""
    kind = dataset_definition(wildcards.dataset).synthetic_kind
    if kind is None:
        raise ValueError(f"config datasets.{wildcards.dataset}: no synthetic stand-in; set its root")
    return kind


def raw_root(wildcards):
    """The raw data folder of a dataset: the configured root, or the synthetic stand-in's folder."""
    if is_synthetic(wildcards.dataset):
        return f"results/data/{wildcards.dataset}"
    return ancient(config["datasets"][wildcards.dataset]["root"])


def dataset_entry(wildcards):
    """`segmamba check --entry`: the dataset's config entry as JSON (without `activate`, which changes no data)."""
    entry = {k: v for k, v in config["datasets"][wildcards.dataset].items() if k != "activate"}
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------
# train (train.smk)


def model_overrides_of(wildcards):
    """Input-function form of `model_overrides` for the job's {model} wildcard."""
    return model_overrides(wildcards.model)


def train_processes():
    """`segmamba train --nproc`: one DDP process per requested GPU (1 without GPUs)."""
    return max(SCALE["resources"]["train"]["gpus"], 1)


def train_settings(wildcards):
    """`segmamba train --settings`: the scale's train block, with the job's {seed} when the protocol has one."""
    if DEFAULT_PROTOCOL:
        return stage_settings("train")
    settings = json.loads(stage_settings("train"))
    settings["seed"] = int(wildcards.seed)
    return json.dumps(settings, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------
# evaluate (evaluate.smk)


def nsd_tolerance_argument(wildcards):
    """The dataset's `evaluation.nsd_tolerance_mm` (one number, or {region: mm}) as shell-quoted JSON."""
    tolerance = config["evaluation"]["nsd_tolerance_mm"]
    if isinstance(tolerance, dict):
        tolerance = tolerance.get(wildcards.dataset, 1.0)
    return shlex.quote(json.dumps(tolerance, separators=(",", ":")))


# ---------------------------------------------------------------------------------------------------------
# efficiency (efficiency.smk; its result paths are also Table 5's inputs and targets)


#: Models with a global self-attention mixer (constructor keyword `attention_kernel`). Table 5 measures them with
#: the explicit L x L attention (`math`: memory quadratic in L, out of memory at 128³ as in the paper); with
#: `efficiency: fused_attention_row` also with PyTorch's fused kernel (`auto`), as a row of its own.
ATTENTION_MODELS = ("segmamba_m6",)


#: Efficiency variants: file-name suffix -> (attention kernel, `--variant` label); "" is the model as in Table 5.
EFFICIENCY_VARIANTS = {"": ("math", None), "_fused-attention": ("auto", "fused attention")}


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
