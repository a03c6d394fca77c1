# segmamba-bench: SegMamba and six baselines on BraTS2023, AIIB2023 and CRC-500, end to end.
#
# Result layout (literal paths in the rules; see results/README.md):
#   results/data/{dataset}/                synthetic stand-in (datasets without a configured root)
#   results/{dataset}/check.txt, split.json, preprocessed/, gt/
#   results/{dataset}/models/{model}/      training run folder (checkpoints, train_log.csv, curve)
#   results/{dataset}/predictions/{model}/ test-set predictions (<case>.nii.gz)
#   results/{dataset}/metrics/{model}.csv  per-case metrics (+ .summary.json, nnU-Net v2 summary shape)
#   results/efficiency/{model}_{size}.json memory and speed (Table 5)
#   results/tables/, results/figures/      the paper's tables and figures
#   results/logs/{rule}/..., results/benchmarks/{rule}/...
#
# Stages (docs/stage-map.md): data, train, predict, evaluate, efficiency, report; one rule file each.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/paths.smk"
include: "workflow/rules/arguments.smk"
include: "workflow/rules/report_inputs.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/efficiency.smk"
include: "workflow/rules/report.smk"


localrules:
    all,
    preprocess_only,
    train_only,
    tables,
    figures,
    ablation,
    efficiency_only,


# Default target: every table and figure of the configuration.
rule all:
    default_target: True
    input:
        final_outputs(),


# Partial target: checked, split and preprocessed datasets plus test ground truth.
rule preprocess_only:
    input:
        preprocess_targets(),


# Partial target: every training (final checkpoints).
rule train_only:
    input:
        train_targets(),


# Partial target: the paper tables (CSV, Markdown, LaTeX).
rule tables:
    input:
        table_targets(),


# Partial target: the paper figures.
rule figures:
    input:
        figure_targets(),


# Partial target: the ablation (Table 4) only.
rule ablation:
    input:
        ablation_targets(),


# Partial target: the efficiency measurements, Table 5 and the chart only (the step rule is `efficiency`).
rule efficiency_only:
    input:
        efficiency_targets(),
