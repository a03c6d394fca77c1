# The paper's comparison tables (2, 3), the tables of datasets of your own, and the figures (Fig. 4 visual
# comparison, training curves). Cheap rules: they run on the submitting machine (localrules) in the light
# analysis environment.


localrules:
    render_table2,
    render_table3,
    render_dataset_table,
    render_figure4,
    render_training_curves,


# ---------------------------------------------------------------------------------------------------------
# render_table2: BraTS2023 WT/TC/ET/Avg Dice and HD95 + AIIB2023 IoU/DLR/DBR of the compared methods,
# ours (mean ± std, Wilcoxon p vs SegMamba) beside the paper's numbers; collapsed trainings (train_summary.json)
# and all-background test predictions (the evaluation summary) are marked.
# Outputs: results/tables/table2.{csv,md,tex}.
rule render_table2:
    input:
        metrics=flat_paths(paper_table_layout("table2")),
        outcomes=flat_paths(paper_table_outcome_files("table2")),
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
        "results/logs/render_table2/table2.log",
    benchmark:
        "results/benchmarks/render_table2/table2.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        table="table2",
        layout=paper_table_layout("table2"),
        outcome_files=paper_table_outcome_files("table2"),
        synthetic=synthetic_flags(),
    script:
        "../scripts/render_table.py"


# ---------------------------------------------------------------------------------------------------------
# render_table3: CRC-500 Dice and HD95 of the compared methods beside the paper's numbers (collapses marked).
# Outputs: results/tables/table3.{csv,md,tex}.
rule render_table3:
    input:
        metrics=flat_paths(paper_table_layout("table3")),
        outcomes=flat_paths(paper_table_outcome_files("table3")),
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
        "results/logs/render_table3/table3.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        table="table3",
        layout=paper_table_layout("table3"),
        outcome_files=paper_table_outcome_files("table3"),
        synthetic=synthetic_flags(),
    script:
        "../scripts/render_table.py"


# ---------------------------------------------------------------------------------------------------------
# render_dataset_table: the table of a dataset of your own (one the paper does not report): Dice and HD95 of
# every label or region and their mean (or the metrics of its layout) for the compared methods, mean ± std,
# Wilcoxon p vs SegMamba; collapses marked. The tidy CSV has the columns of table2.csv.
# Outputs: results/tables/{dataset}.{csv,md,tex}.
rule render_dataset_table:
    input:
        metrics=dataset_table_metrics,
        outcomes=dataset_table_outcomes,
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
        "results/logs/render_dataset_table/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(dataset_table_names()),
    conda:
        "../../envs/analysis.yaml"
    params:
        table="dataset",
        dataset="{dataset}",
        entry=dataset_entry,
        layout=dataset_table_layout,
        outcome_files=dataset_table_outcome_files,
        synthetic=synthetic_flag,
    script:
        "../scripts/render_table.py"


# ---------------------------------------------------------------------------------------------------------
# render_figure4: Fig. 4 style visual comparison of one dataset: the test slice with the largest ground-truth
# foreground cross-section, with the image, the ground truth and every method's prediction as overlays.
# Output: results/figures/fig4_{dataset}.png.
rule render_figure4:
    input:
        unpack(figure4_inputs),
    output:
        figure=report(
            "results/figures/fig4_{dataset}.png",
            caption="../report/fig4.rst",
            category=report_category("Main results"),
            subcategory=report_subcategory("Fig. 4"),
            labels={"figure": "Fig. 4", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/render_figure4/{dataset}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="fig4",
        dataset="{dataset}",
        layout=dataset_layout,
        models=figure_models_of,
    script:
        "../scripts/render_figure.py"


# ---------------------------------------------------------------------------------------------------------
# render_training_curves: training loss and validation Dice per epoch of every model on a dataset.
# Output: results/figures/training_curves_{dataset}.png.
rule render_training_curves:
    input:
        logs=training_logs,
    output:
        figure=report(
            "results/figures/training_curves_{dataset}.png",
            caption="../report/training_curves.rst",
            category=report_category("Training"),
            subcategory=report_subcategory("Training curves"),
            labels={"figure": "Training curves", "dataset": "{dataset}"},
        ),
    log:
        "results/logs/render_training_curves/{dataset}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="training_curves",
        dataset="{dataset}",
        models=figure_models_of,
    script:
        "../scripts/render_figure.py"
