# The inputs of the report rules (report.smk). Each artefact's inputs are one function of the wildcards that
# returns `segmamba report --inputs` as a dict; the rule's `input:` is every file in it (report_files) and its
# params the same dict as JSON (report_json), so no path is written twice. No rules live here.

import json

#: --inputs keys whose values are not files (every other key holds paths, nested in dicts and lists).
REPORT_VALUES = ("dataset", "statistics", "reduced_scale", "synthetic")


#: The training the figures show (Fig. 4, training curves): the first (fold 0, first seed) of the protocol.
FIGURE_RUN = protocol_runs()[0]


def report_files(inputs):
    """Input function of a report rule: every file of its artefact's `inputs(wildcards)`, as a list."""
    return lambda wildcards: flat_paths({k: v for k, v in inputs(wildcards).items() if k not in REPORT_VALUES})


def report_json(inputs):
    """Params function of a report rule: its artefact's inputs as compact JSON (a param, so a change reruns the
    report). Keys keep their order: the order of the models in a layout is the order of the table's rows."""
    return lambda wildcards: json.dumps(inputs(wildcards), separators=(",", ":"))


def flat_paths(layout):
    """All paths (strings) of a layout of nested dicts and lists, as a list (a run's seed and fold are skipped)."""
    paths = []
    for value in layout.values() if isinstance(layout, dict) else layout:
        if isinstance(value, (dict, list)):
            paths += flat_paths(value)
        elif isinstance(value, str):
            paths.append(value)
    return paths


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


def statistics_settings():
    """The `statistics` input of the accuracy and rank artefacts (config `report`, defaults as the schema's)."""
    settings = config.get("report") or {}
    return {
        "reference": settings.get("reference_method", "segmamba"),
        "resamples": settings.get("bootstrap_resamples", 10000),
        "seed": settings.get("bootstrap_seed", 0),
    }


def accuracy_inputs(dataset, models):
    """The inputs of an accuracy table of one dataset: its dataset file, metrics, outcomes and statistics."""
    return {
        "dataset_file": dataset_file(dataset),
        "layout": metrics_paths(dataset, models),
        "outcome_files": outcome_files(dataset, models),
        "statistics": statistics_settings(),
    }


def paper_table_inputs(table):
    """Inputs of Table 2 or 3 (its active registry datasets; `synthetic` flags the configured ones not run)."""
    ran = [d for d in paper_datasets(table) if d in active_datasets()]
    models = config["models"]
    return {
        "layout": {d: metrics_paths(d, models) for d in ran},
        "outcome_files": {d: outcome_files(d, models) for d in ran},
        "dataset_files": {d: dataset_file(d) for d in ran},
        "statistics": statistics_settings(),
        "synthetic": {d: is_synthetic(d) for d in paper_datasets(table) if d in configured_datasets() and d not in ran},
    }


def table2_inputs(wildcards):
    """Inputs of Table 2 (BraTS2023 and AIIB2023)."""
    return paper_table_inputs("table2")


def table3_inputs(wildcards):
    """Inputs of Table 3 (CRC-500)."""
    return paper_table_inputs("table3")


def dataset_table_inputs(wildcards):
    """Inputs of the table of a dataset of your own: the compared methods."""
    return accuracy_inputs(wildcards.dataset, config["models"])


def table4_inputs(wildcards):
    """Inputs of Table 4: the ablation variants on the ablation dataset."""
    return accuracy_inputs(config["ablation"]["dataset"], config["ablation"]["models"])


def lesionwise_inputs(wildcards):
    """Inputs of the BraTS lesion-wise table: Table 2's BraTS2023 metrics, outcomes and statistics."""
    return accuracy_inputs(LESION_WISE_DATASET, config["models"])


def figure_models(dataset):
    """Models shown in a dataset's Fig. 4 panel and training curves (the compared methods, else the variants)."""
    return list(config["models"]) if dataset in active_datasets() else models_for(dataset)


def rank_inputs(wildcards):
    """Inputs of a dataset's rank-stability table, blob plot and significance map (the Fig. 4 models)."""
    dataset = wildcards.dataset
    return {
        "dataset_file": dataset_file(dataset),
        "layout": metrics_paths(dataset, figure_models(dataset)),
        "statistics": statistics_settings(),
    }


def figure4_inputs(wildcards):
    """Inputs of one dataset's Fig. 4 panel: dataset file (raw data), split, ground truth, {model: predictions}."""
    dataset = wildcards.dataset
    return {
        "dataset_file": dataset_file(dataset),
        "split_path": split_path(dataset, FIGURE_RUN["fold"]),
        "gt_dir": gt_path(dataset, FIGURE_RUN["fold"]),
        "prediction_dirs": {m: f"{run_dir(dataset, FIGURE_RUN)}/predictions/{m}" for m in figure_models(dataset)},
    }


def training_curves_inputs(wildcards):
    """Inputs of one dataset's training curves: {model: train_log.csv}."""
    dataset = wildcards.dataset
    logs = {m: f"{run_dir(dataset, FIGURE_RUN)}/models/{m}/train_log.csv" for m in figure_models(dataset)}
    return {"dataset": dataset, "logs": logs}


def cost_table_inputs(wildcards):
    """Inputs of a dataset's cost table: {training: {"train_summary": path, "predictions": folder}} of every
    training on it, one per model, or under a protocol one per model, fold and seed ("<model> (fold k, seed s)")."""

    def name(model, run):
        where = ", ".join(f"{key} {value}" for key, value in run.items() if value is not None)
        return f"{model} ({where})" if where else model

    dataset = wildcards.dataset
    runs = {
        name(model, run): {
            "train_summary": f"{run_dir(dataset, run)}/models/{model}/train_summary.json",
            "predictions": f"{run_dir(dataset, run)}/predictions/{model}",
        }
        for model in models_for(dataset)
        for run in protocol_runs()
    }
    return {"dataset": dataset, "runs": runs}


def table5_inputs(wildcards):
    """Inputs of Table 5: the efficiency JSONs and the dataset whose shapes they measured."""
    paths = efficiency_paths()
    return {"paths": paths, "reduced_scale": config["scale"] != "paper", "dataset": config["efficiency"]["dataset"]}


def efficiency_chart_inputs(wildcards):
    """Inputs of the efficiency chart: the efficiency JSONs."""
    return {"paths": efficiency_paths()}


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
