# Raw data: synthetic stand-ins (datasets without a configured root) and the dataset check.


# ---------------------------------------------------------------------------------------------------------
# synthesize_dataset: write a learnable synthetic stand-in in the dataset's native layout.
# Output: results/data/{dataset}/ (only for datasets whose `root` is null).
rule synthesize_dataset:
    output:
        root=directory("results/data/{dataset}"),
    log:
        "results/logs/synthesize_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/synthesize_dataset/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        kind=synth_kind,
        cases=SCALE["synthetic"]["cases"],
        size=SCALE["synthetic"]["size"],
        seed=SCALE["synthetic"]["seed"],
    shell:
        "segmamba synth --kind {params.kind} --out {output.root} --cases {params.cases} --size {params.size}"
        " --seed {params.seed} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# check_dataset: report every problem of a dataset at once (missing/corrupt files, shape or affine
# mismatches, NaN/Inf, unexpected labels, empty cases) and fail before any work is done.
# Output: results/{dataset}/check.txt (the check's report).
rule check_dataset:
    input:
        root=raw_root,
    output:
        report="results/{dataset}/check.txt",
    log:
        "results/logs/check_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/check_dataset/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        layout=dataset_layout,
    shell:
        "segmamba check --dataset {params.layout} --name {wildcards.dataset} --root {input.root}"
        " --out {output.report} > {log} 2>&1"
