# Training of every (dataset, model) pair with the published recipe (scaled by config), once per fold and seed of
# the protocol (RUN_ID in paths.smk: {dataset} for the default holdout with one seed, else e.g.
# {dataset}/cv5/fold{fold}/seed{seed}; docs/protocols.md).


# ---------------------------------------------------------------------------------------------------------
# train: `segmamba train` into results/{RUN_ID}/models/{model}/. The resumable
# checkpoint_latest.pt (and checkpoint_best.pt) are written there but are NOT declared outputs, so
# Snakemake never deletes them: a job killed by a time limit or preempted (exit code 75) continues
# from its latest checkpoint when rerun (`--rerun-incomplete`, `--retries`, or SLURM requeue). A rerun
# because settings changed (params) or the data did (another split or preprocessing: the checkpoint's data
# fingerprint differs, docs/provenance.md) trains anew: `--restart-on-change` moves the old run's
# checkpoints to superseded-<time>/ first. A second training in the same folder is refused (lock).
# Outputs: checkpoint_final.pt, train_log.csv, training_curve.png, train_summary.json (which says whether
# the training collapsed; the tables read it).
# Priority 1 (others 0): with more ready jobs than cores, trainings (the longest jobs, each at the head of
# a table's chain) start first; the efficiency measurements, which only Table 5 waits on, fill the cores
# while the last trainings run instead of leaving one idle at the end.
rule train:
    input:
        preprocessed="results/{dataset}/preprocessed",
        split=run_split,
    output:
        checkpoint=f"results/{RUN_ID}/models/{{model}}/checkpoint_final.pt",
        log_csv=f"results/{RUN_ID}/models/{{model}}/train_log.csv",
        curve=f"results/{RUN_ID}/models/{{model}}/training_curve.png",
        summary=f"results/{RUN_ID}/models/{{model}}/train_summary.json",
    log:
        f"results/logs/train/{RUN_ID}/{{model}}.log",
    benchmark:
        f"results/benchmarks/train/{RUN_ID}/{{model}}.tsv"
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
        settings=train_settings,
        nproc=train_processes(),
        overrides=model_overrides_of,
    shell:
        "PYTHONUNBUFFERED=1 segmamba train --preprocessed {input.preprocessed:q} --split {input.split:q}"
        " --model {wildcards.model} --out {params.run_dir:q} --settings {params.settings:q} --nproc {params.nproc}"
        " --model-overrides {params.overrides:q} --restart-on-change > {log:q} 2>&1"
