# Training of every (dataset, model) pair with the published recipe (scaled by config).


# ---------------------------------------------------------------------------------------------------------
# train: `segmamba train` into results/{dataset}/models/{model}/. The resumable
# checkpoint_latest.pt (and checkpoint_best.pt) are written there but are NOT declared outputs, so
# Snakemake never deletes them: a job killed by a time limit or preempted (exit code 75) continues
# from its latest checkpoint when rerun (`--rerun-incomplete`, `--retries`, or SLURM requeue). A rerun
# because settings changed (params) trains anew: `--restart-on-change` moves the old run's checkpoints
# to superseded-<time>/ first.
# Outputs: checkpoint_final.pt, train_log.csv, training_curve.png, train_summary.json (which says whether
# the training collapsed; the tables read it).
# Priority 1 (others 0): with more ready jobs than cores, trainings (the longest jobs, each at the head of
# a table's chain) start first; the efficiency measurements, which only Table 5 waits on, fill the cores
# while the last trainings run instead of leaving one idle at the end.
rule train:
    input:
        preprocessed="results/{dataset}/preprocessed",
        split="results/{dataset}/split.json",
    output:
        checkpoint="results/{dataset}/models/{model}/checkpoint_final.pt",
        log_csv="results/{dataset}/models/{model}/train_log.csv",
        curve="results/{dataset}/models/{model}/training_curve.png",
        summary="results/{dataset}/models/{model}/train_summary.json",
    log:
        "results/logs/train/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{model}.tsv"
    priority: 1
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("train")
    resources:
        gpu=gpu_count("train"),
        cpus_per_gpu=cpus_per_gpu("train"),
        mem_mb=memory_mb("train"),
        runtime=runtime_minutes("train"),
    params:
        run_dir=subpath(output.checkpoint, parent=True),
        settings=stage_settings("train"),
        nproc=train_processes(),
        overrides=model_overrides_of,
    shell:
        "PYTHONUNBUFFERED=1 segmamba train --preprocessed {input.preprocessed:q} --split {input.split:q}"
        " --model {wildcards.model} --out {params.run_dir:q} --settings {params.settings:q} --nproc {params.nproc}"
        " --model-overrides {params.overrides:q} --restart-on-change > {log:q} 2>&1"
