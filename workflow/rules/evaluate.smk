# Ground truth of the test split and the per-case metrics of every prediction.


# ---------------------------------------------------------------------------------------------------------
# extract_ground_truth: the test cases' label maps in their original geometry.
# Output: results/{dataset}/gt/<case>.nii.gz.
rule extract_ground_truth:
    input:
        root=raw_root,
        split="results/{dataset}/split.json",
    output:
        gt=directory("results/{dataset}/gt"),
    log:
        "results/logs/extract_ground_truth/{dataset}.log",
    benchmark:
        "results/benchmarks/extract_ground_truth/{dataset}.tsv"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    conda:
        "../../envs/segmamba-gpu.yaml"
    shell:
        "segmamba labels --dataset {wildcards.dataset} --root {input.root} --split {input.split}"
        " --subset test --out {output.gt} > {log} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# evaluate_predictions: Dice/HD95 (BraTS regions, CRC tumour) or IoU/DLR/DBR (AIIB airway) per case.
# Outputs: results/{dataset}/metrics/{model}.csv and its .summary.json.
rule evaluate_predictions:
    input:
        predictions="results/{dataset}/predictions/{model}",
        gt="results/{dataset}/gt",
    output:
        metrics="results/{dataset}/metrics/{model}.csv",
        summary="results/{dataset}/metrics/{model}.summary.json",
    params:
        convention=config["evaluation"]["convention"],
    log:
        "results/logs/evaluate_predictions/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/evaluate_predictions/{dataset}/{model}.tsv"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    conda:
        "../../envs/segmamba-gpu.yaml"
    shell:
        "segmamba evaluate --dataset {wildcards.dataset} --pred-dir {input.predictions} --gt-dir {input.gt}"
        " --out {output.metrics} --convention {params.convention} --workers {threads} > {log} 2>&1"
