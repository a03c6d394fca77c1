# The module ablation (Table 4). Its trainings, predictions and evaluations are the ordinary
# train_model / predict_test_set / evaluate_predictions jobs with {model} = an ablation variant
# (segmamba_m1, segmamba_m2, segmamba_m3) on the ablation dataset; UX-Net and full SegMamba are shared
# with the main comparison when that dataset is active.


localrules:
    render_table4,


# ---------------------------------------------------------------------------------------------------------
# render_table4: UX-Net, M1, M2, M3 and SegMamba with their modules (LC, GSC, ToM), Dice and HD95,
# beside the paper's numbers (collapsed trainings marked).
# Outputs: results/tables/table4.{csv,md,tex}.
rule render_table4:
    input:
        metrics=flat_paths(table4_layout()),
        outcomes=flat_paths(table4_outcome_files()),
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
        "results/logs/render_table4/table4.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        table="table4",
        layout=table4_layout(),
        outcome_files=table4_outcome_files(),
        dataset=config["ablation"]["dataset"],
        entry=config["datasets"].get(config["ablation"]["dataset"], {}),
        synthetic=is_synthetic(config["ablation"]["dataset"]),
    script:
        "../scripts/render_table.py"
