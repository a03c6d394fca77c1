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
        "segmamba ground-truth --dataset {params.layout} --root {input.root:q} --split {input.split:q}"
        " --subset test --out {output.gt:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# evaluate: Dice/HD95/NSD (BraTS regions plus lesion-wise Dice/HD95, CRC tumour, an nnU-Net dataset's labels
# or regions) or IoU/DLR/DBR/NSD (AIIB airway) per case. An nnU-Net dataset's root is an input: its
# dataset.json names the labels.
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
        nsd=nsd_tolerance_argument,
    shell:
        "segmamba evaluate --dataset {params.layout} --name {wildcards.dataset} --pred-dir {input.predictions:q}"
        " --gt-dir {input.gt:q} --split {input.split:q}"
        " --out {output.metrics:q} --convention {params.convention} --nsd-tolerance-mm {params.nsd}"
        " --workers {threads} {params.options}"
        " > {log:q} 2>&1"
