# The report stage: the paper's tables (2-5), the tables of datasets of your own and the figures (Fig. 4 visual
# comparison, training curves, efficiency chart). Each report_<artefact> rule is one `segmamba report <artefact>`
# call with the artefact's inputs as one JSON argument (ARTEFACTS in segmamba/report/build.py lists them).
# Cheap rules: they run on the submitting machine (localrules) in the light analysis environment.
# Every accuracy table carries its statistics (bootstrap CIs, Holm-adjusted paired Wilcoxon tests against
# config `report: reference_method`); each trained dataset also gets a rank-stability table, a rank blob plot
# and a pairwise significance map, and BraTS2023 a lesion-wise table beside Table 2.


localrules:
    report_table2,
    report_table3,
    report_dataset_table,
    report_table4,
    report_table5,
    report_figure4,
    report_training_curves,
    report_efficiency_chart,
    report_cost_table,
    report_lesionwise_table,
    report_rank_stability,
    report_rank_blobs,
    report_significance_map,


# ---------------------------------------------------------------------------------------------------------
# Each artefact's inputs are one function of the wildcards returning `segmamba report --inputs`; the rule's
# `input:` is every file in it (report_files) and its params the same dict as JSON (report_json).


# ---------------------------------------------------------------------------------------------------------
# report_table2: BraTS2023 WT/TC/ET/Avg Dice and HD95 + AIIB2023 IoU/DLR/DBR of the compared methods,
# ours (mean ± std, bootstrap CI, Holm-adjusted Wilcoxon p vs the reference) beside the paper's numbers; collapsed trainings (train_summary.json)
# and all-background test predictions (the evaluation summary) are marked.
# Outputs: results/tables/table2.{csv,md,tex}.
rule report_table2:
    input:
        report_files(table2_inputs),
    output:
        csv=report(
            "results/tables/table2.csv",
            caption="../report/table2.rst",
            category="Main results",
            subcategory="BraTS2023 and AIIB2023",
            labels={"table": "Table 2", "metric": "Dice, HD95, IoU, DLR, DBR"},
        ),
        md="results/tables/table2.md",
        tex="results/tables/table2.tex",
    log:
        "results/logs/report_table2/table2.log",
    benchmark:
        "results/benchmarks/report_table2/table2.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(table2_inputs),
    shell:
        "segmamba report table2 --inputs {params.inputs:q} --out {output.csv:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_table3: CRC-500 Dice and HD95 of the compared methods beside the paper's numbers (collapses marked).
# Outputs: results/tables/table3.{csv,md,tex}.
rule report_table3:
    input:
        report_files(table3_inputs),
    output:
        csv=report(
            "results/tables/table3.csv",
            caption="../report/table3.rst",
            category="Main results",
            subcategory="CRC-500",
            labels={"table": "Table 3", "metric": "Dice, HD95"},
        ),
        md="results/tables/table3.md",
        tex="results/tables/table3.tex",
    log:
        "results/logs/report_table3/table3.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(table3_inputs),
    shell:
        "segmamba report table3 --inputs {params.inputs:q} --out {output.csv:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_dataset_table: the table of a dataset of your own (one the paper does not report): Dice and HD95 of
# every label or region and their mean (or the metrics of its layout) for the compared methods, mean ± std,
# Wilcoxon p vs SegMamba; collapses marked. The tidy CSV has the columns of table2.csv.
# Outputs: results/tables/{dataset}.{csv,md,tex}.
rule report_dataset_table:
    input:
        report_files(dataset_table_inputs),
    output:
        csv=report(
            "results/tables/{dataset}.csv",
            caption="../report/dataset_table.rst",
            category="{dataset}",
            subcategory="Table",
            labels={"table": "{dataset}", "metric": "Dice, HD95"},
        ),
        md="results/tables/{dataset}.md",
        tex="results/tables/{dataset}.tex",
    log:
        "results/logs/report_dataset_table/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(dataset_table_names()) or "(?!)",  # no dataset of your own: matches nothing
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(dataset_table_inputs),
    shell:
        "segmamba report dataset_table --inputs {params.inputs:q} --out {output.csv:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_table4: UX-Net, M1, M2, M3 and SegMamba with their modules (LC, GSC, ToM), Dice and HD95,
# beside the paper's numbers (collapsed trainings marked). The ablation's trainings, predictions and
# evaluations are the ordinary train / predict / evaluate jobs with {model} = an ablation variant
# (segmamba_m1, segmamba_m2, segmamba_m3) on the ablation dataset.
# Outputs: results/tables/table4.{csv,md,tex}.
rule report_table4:
    input:
        report_files(table4_inputs),
    output:
        csv=report(
            "results/tables/table4.csv",
            caption="../report/table4.rst",
            category="Ablation",
            subcategory=config["ablation"]["dataset"],
            labels={"table": "Table 4", "metric": "Dice, HD95"},
        ),
        md="results/tables/table4.md",
        tex="results/tables/table4.tex",
    log:
        "results/logs/report_table4/table4.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(table4_inputs),
    shell:
        "segmamba report table4 --inputs {params.inputs:q} --out {output.csv:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_table5: TM, IM, IT and "is global" per model and size beside the paper's 128³ numbers.
# Outputs: results/tables/table5.{csv,md,tex}.
rule report_table5:
    input:
        report_files(table5_inputs),
    output:
        csv=report(
            "results/tables/table5.csv",
            caption="../report/table5.rst",
            category="Efficiency",
            subcategory="Table 5",
            labels={"table": "Table 5", "metric": "TM, IM, IT"},
        ),
        md="results/tables/table5.md",
        tex="results/tables/table5.tex",
    log:
        "results/logs/report_table5/table5.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(table5_inputs),
    shell:
        "segmamba report table5 --inputs {params.inputs:q} --out {output.csv:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_figure4: Fig. 4 style visual comparison of one dataset: the test slice with the largest ground-truth
# foreground cross-section, with the image, the ground truth and every method's prediction as overlays.
# Output: results/figures/fig4_{dataset}.png.
rule report_figure4:
    input:
        report_files(figure4_inputs),
    output:
        figure=report(
            "results/figures/fig4_{dataset}.png",
            caption="../report/fig4.rst",
            category=report_category("Main results"),
            subcategory=report_subcategory("Fig. 4"),
            labels={"figure": "Fig. 4", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/report_figure4/{dataset}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(figure4_inputs),
    shell:
        "segmamba report figure4 --inputs {params.inputs:q} --out {output.figure:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_training_curves: training loss and validation Dice per epoch of every model on a dataset.
# Output: results/figures/training_curves_{dataset}.png.
rule report_training_curves:
    input:
        report_files(training_curves_inputs),
    output:
        figure=report(
            "results/figures/training_curves_{dataset}.png",
            caption="../report/training_curves.rst",
            category=report_category("Training"),
            subcategory=report_subcategory("Training curves"),
            labels={"figure": "Training curves", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/report_training_curves/{dataset}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(training_curves_inputs),
    shell:
        "segmamba report training_curves --inputs {params.inputs:q} --out {output.figure:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_efficiency_chart: bar charts of TM, IM and IT per model and size (OOM marked).
# Output: results/figures/efficiency.png.
rule report_efficiency_chart:
    input:
        report_files(efficiency_chart_inputs),
    output:
        figure=report(
            "results/figures/efficiency.png",
            caption="../report/efficiency.rst",
            category="Efficiency",
            subcategory="Chart",
            labels={"figure": "Efficiency chart", "metric": "TM, IM, IT"},
        ),
    log:
        "results/logs/report_efficiency_chart/efficiency.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(efficiency_chart_inputs),
    shell:
        "segmamba report efficiency_chart --inputs {params.inputs:q} --out {output.figure:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_cost_table: what each model's training and test prediction cost on a dataset: parameters, forward
# FLOPs of one training patch, training time, GPUs, GPU-hours, peak GPU memory and NVML energy, inference
# seconds, peak memory and energy per test case ("—" where not measured, e.g. GPU fields on the CPU).
# Outputs: results/tables/cost_{dataset}.{csv,md,tex}.
rule report_cost_table:
    input:
        report_files(cost_table_inputs),
    output:
        csv=report(
            "results/tables/cost_{dataset}.csv",
            caption="../report/cost_table.rst",
            category="Cost",
            subcategory="{dataset}",
            labels={"table": "Cost", "dataset": "{dataset}"},
        ),
        md="results/tables/cost_{dataset}.md",
        tex="results/tables/cost_{dataset}.tex",
    log:
        "results/logs/report_cost_table/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(trained_datasets()),
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(cost_table_inputs),
    shell:
        "segmamba report cost_table --inputs {params.inputs:q} --out {output.csv:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_lesionwise_table: BraTS2023 lesion-wise Dice and HD95 (BraTS 2023 definition) of the compared methods,
# beside Table 2 and with its statistics; empty with a note when the metrics CSVs lack the lesion-wise columns.
# Outputs: results/tables/table2_lesionwise.{csv,md,tex}.
rule report_lesionwise_table:
    input:
        report_files(lesionwise_inputs),
    output:
        csv=report(
            "results/tables/table2_lesionwise.csv",
            caption="../report/lesionwise_table.rst",
            category="Main results",
            subcategory="BraTS2023 lesion-wise",
            labels={"table": "Table 2 lesion-wise", "metric": "lesion-wise Dice, HD95"},
        ),
        md="results/tables/table2_lesionwise.md",
        tex="results/tables/table2_lesionwise.tex",
    log:
        "results/logs/report_lesionwise_table/table2_lesionwise.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(lesionwise_inputs),
    shell:
        "segmamba report lesionwise_table --inputs {params.inputs:q} --out {output.csv:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_rank_stability: per dataset and reported metric, each method's mean rank, median rank and 95% rank
# interval over bootstrap resamples of the test cases.
# Outputs: results/tables/rank_stability_{dataset}.{csv,md,tex}.
rule report_rank_stability:
    input:
        report_files(rank_inputs),
    output:
        csv=report(
            "results/tables/rank_stability_{dataset}.csv",
            caption="../report/rank_stability.rst",
            category=report_category("Rank stability"),
            subcategory=report_subcategory("Rank stability"),
            labels={"table": "Rank stability", "dataset": "{dataset}"},
        ),
        md="results/tables/rank_stability_{dataset}.md",
        tex="results/tables/rank_stability_{dataset}.tex",
    log:
        "results/logs/report_rank_stability/{dataset}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(rank_inputs),
    shell:
        "segmamba report rank_stability --inputs {params.inputs:q} --out {output.csv:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_rank_blobs: challengeR-style blob plot of the bootstrap ranks of a dataset's headline metric.
# Output: results/figures/rank_blobs_{dataset}.png.
rule report_rank_blobs:
    input:
        report_files(rank_inputs),
    output:
        figure=report(
            "results/figures/rank_blobs_{dataset}.png",
            caption="../report/rank_blobs.rst",
            category=report_category("Rank stability"),
            subcategory=report_subcategory("Rank stability"),
            labels={"figure": "Rank blob plot", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/report_rank_blobs/{dataset}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(rank_inputs),
    shell:
        "segmamba report rank_blobs --inputs {params.inputs:q} --out {output.figure:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# report_significance_map (category "Rank stability": "Statistics" would clash with Snakemake's own report panel):
# all pairs of methods, paired Wilcoxon, Holm-adjusted over the pairs, as a heatmap.
# Output: results/figures/significance_{dataset}.png.
rule report_significance_map:
    input:
        report_files(rank_inputs),
    output:
        figure=report(
            "results/figures/significance_{dataset}.png",
            caption="../report/significance_map.rst",
            category=report_category("Rank stability"),
            subcategory=report_subcategory("Significance map"),
            labels={"figure": "Significance map", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/report_significance_map/{dataset}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        inputs=report_json(rank_inputs),
    shell:
        "segmamba report significance_map --inputs {params.inputs:q} --out {output.figure:q} > {log:q} 2>&1"
