# The data stage: synthetic stand-ins (datasets without a configured root), the dataset check, the 70/10/20
# split (written once and read by every later step), the cross-validation folds' splits (split.scheme cv) and
# nnU-Net-style preprocessing (crop, resample, normalise; shared by every fold, see docs/protocols.md).
# `check` writes the dataset file results/{dataset}/dataset.json (segmamba.data.dataset_file): the configured
# dataset resolved once (layout, root, channels, labels, regions, target spacing, metrics); every later step
# takes it as an input (--dataset-file), so a changed region or spacing reruns what depends on it.


# ---------------------------------------------------------------------------------------------------------
# synth: write a learnable synthetic stand-in in the dataset's native layout.
# Output: results/data/{dataset}/ (only for datasets whose `root` is null).
rule synth:
    output:
        root=directory("results/data/{dataset}"),
    log:
        "results/logs/synth/{dataset}.log",
    benchmark:
        "results/benchmarks/synth/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        kind=synth_kind,
        settings=stage_settings("synthetic"),
    shell:
        "segmamba synth --kind {params.kind} --out {output.root:q} --settings {params.settings:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# check: resolve the dataset's config entry and report every problem of its data at once (missing/corrupt files,
# shape or affine mismatches, NaN/Inf, unexpected labels, empty cases); fail before any work is done.
# Outputs: results/{dataset}/check.txt (the check's report) and results/{dataset}/dataset.json (the dataset file).
rule check:
    input:
        root=raw_root,
    output:
        report="results/{dataset}/check.txt",
        dataset_file="results/{dataset}/dataset.json",
    log:
        "results/logs/check/{dataset}.log",
    benchmark:
        "results/benchmarks/check/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        entry=dataset_entry,
    shell:
        "segmamba check --name {wildcards.dataset} --entry {params.entry:q} --root {input.root:q}"
        " --out {output.report:q} --write-dataset-file {output.dataset_file:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# split: shuffle the sorted case ids with the configured seed; train = floor(0.7 N),
# val = floor(0.1 N), test = the rest. A changed case list is reported, never silently re-split.
# Output: results/{dataset}/split.json (train/val/test lists, seed, case-list hash).
rule split:
    input:
        dataset_file="results/{dataset}/dataset.json",
    output:
        split="results/{dataset}/split.json",
    log:
        "results/logs/split/{dataset}.log",
    benchmark:
        "results/benchmarks/split/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        seed=config["split"]["seed"],
    shell:
        "segmamba split --dataset-file {input.dataset_file:q} --out {output.split:q}"
        " --seed {params.seed} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# fold_split (split.scheme cv): fold {fold} of the {folds}-fold cross-validation: the same seeded shuffle cut into
# {folds} folds; test = fold {fold}, val = the floor(N/10) cases after it, train = the rest (docs/protocols.md).
# Output: results/{dataset}/cv{folds}/fold{fold}/split.json (the shape of split.json, read by train and predict).
rule fold_split:
    input:
        dataset_file="results/{dataset}/dataset.json",
    output:
        split="results/{dataset}/cv{folds}/fold{fold}/split.json",
    log:
        "results/logs/fold_split/{dataset}/cv{folds}/fold{fold}.log",
    benchmark:
        "results/benchmarks/fold_split/{dataset}/cv{folds}/fold{fold}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        seed=config["split"]["seed"],
    shell:
        "segmamba fold-split --dataset-file {input.dataset_file:q} --out {output.split:q}"
        " --folds {wildcards.folds} --fold {wildcards.fold} --seed {params.seed} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# preprocess: one float32 image and int8 label array per case plus its properties, the
# dataset fingerprint and the normalisation parameters (the dataset file's target spacing and regions).
# Output: results/{dataset}/preprocessed/ (dataset.json, fingerprint.json, <case>/...).
rule preprocess:
    input:
        dataset_file="results/{dataset}/dataset.json",
        split="results/{dataset}/split.json",
    output:
        preprocessed=directory("results/{dataset}/preprocessed"),
    log:
        "results/logs/preprocess/{dataset}.log",
    benchmark:
        "results/benchmarks/preprocess/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: SCALE["preprocess"]["workers"]
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        settings=stage_settings("preprocess"),
    shell:
        "segmamba preprocess --dataset-file {input.dataset_file:q} --split {input.split:q}"
        " --out {output.preprocessed:q} --settings {params.settings:q} > {log:q} 2>&1"
