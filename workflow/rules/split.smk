# The 70/10/20 train/val/test split, written once and read by every later step.


# ---------------------------------------------------------------------------------------------------------
# split_dataset: shuffle the sorted case ids with the configured seed; train = floor(0.7 N),
# val = floor(0.1 N), test = the rest. A changed case list is reported, never silently re-split.
# Output: results/{dataset}/split.json (train/val/test lists, seed, case-list hash).
rule split_dataset:
    input:
        root=raw_root,
        check="results/{dataset}/check.txt",
    output:
        split="results/{dataset}/split.json",
    log:
        "results/logs/split_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/split_dataset/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        layout=dataset_layout,
        seed=config["split"]["seed"],
    shell:
        "segmamba split --dataset {params.layout} --root {input.root} --out {output.split}"
        " --seed {params.seed} > {log} 2>&1"
