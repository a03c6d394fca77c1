# Ground truth of the test split and the per-case metrics of every prediction.


# ---------------------------------------------------------------------------------------------------------
# ground_truth: the test cases' label maps in their original geometry.
# Output: results/{dataset}/gt/<case>.nii.gz.
rule ground_truth:
    input:
        root=raw_root,
        split="results/{dataset}/split.json",
    output:
        gt=directory("results/{dataset}/gt"),
    log:
        "results/logs/ground_truth/{dataset}.log",
    benchmark:
        "results/benchmarks/ground_truth/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        layout=dataset_layout,
    shell:
        "segmamba ground-truth --dataset {params.layout} --root {input.root} --split {input.split}"
        " --subset test --out {output.gt} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# evaluate: Dice/HD95 (BraTS regions, CRC tumour, an nnU-Net dataset's labels or regions) or
# IoU/DLR/DBR (AIIB airway) per case. An nnU-Net dataset's root is an input: its dataset.json names the labels.
# Outputs: results/{dataset}/metrics/{model}.csv and its .summary.json (nnU-Net v2 summary.json shape).
rule evaluate:
    input:
        predictions="results/{dataset}/predictions/{model}",
        gt="results/{dataset}/gt",
        split="results/{dataset}/split.json",
        root=evaluation_root,
    output:
        metrics="results/{dataset}/metrics/{model}.csv",
        summary="results/{dataset}/metrics/{model}.summary.json",
    log:
        "results/logs/evaluate/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{model}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        layout=dataset_layout,
        options=evaluation_arguments,
        convention=config["evaluation"]["convention"],
    shell:
        "segmamba evaluate --dataset {params.layout} --name {wildcards.dataset} --pred-dir {input.predictions}"
        " --gt-dir {input.gt} --split {input.split}"
        " --out {output.metrics} --convention {params.convention} --workers {threads} {params.options}"
        " > {log} 2>&1"
