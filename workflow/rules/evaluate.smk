# Ground truth of the test split and the per-case metrics of every prediction.


# ---------------------------------------------------------------------------------------------------------
# ground_truth: the test cases' label maps in their original geometry (cv: of each fold, together every case).
# Output: results/{dataset}/gt/<case>.nii.gz (cv: results/{dataset}/cv{K}/fold{fold}/gt/<case>.nii.gz).
rule ground_truth:
    input:
        dataset_file="results/{dataset}/dataset.json",
        split=run_split,
    output:
        gt=directory(f"results/{FOLD_ID}/gt"),
    log:
        f"results/logs/ground_truth/{FOLD_ID}.log",
    benchmark:
        f"results/benchmarks/ground_truth/{FOLD_ID}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    shell:
        "segmamba ground-truth --dataset-file {input.dataset_file:q} --split {input.split:q}"
        " --subset test --out {output.gt:q} > {log:q} 2>&1"


# ---------------------------------------------------------------------------------------------------------
# evaluate: Dice/HD95/NSD (BraTS regions plus lesion-wise Dice/HD95, CRC tumour, an nnU-Net dataset's labels
# or regions) or IoU/DLR/DBR/NSD (AIIB airway) per case, as the dataset file defines them. Predictions of a
# model of another split are refused (--split).
# Outputs: results/{RUN_ID}/metrics/{model}.csv and its .summary.json (nnU-Net v2 summary.json shape).
rule evaluate:
    input:
        predictions=f"results/{RUN_ID}/predictions/{{model}}",
        gt=run_gt,
        split=run_split,
        dataset_file="results/{dataset}/dataset.json",
    output:
        metrics=f"results/{RUN_ID}/metrics/{{model}}.csv",
        summary=f"results/{RUN_ID}/metrics/{{model}}.summary.json",
    log:
        f"results/logs/evaluate/{RUN_ID}/{{model}}.log",
    benchmark:
        f"results/benchmarks/evaluate/{RUN_ID}/{{model}}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("cpu")
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        convention=config["evaluation"]["convention"],
        nsd=nsd_tolerance_argument,
    shell:
        "segmamba evaluate --dataset-file {input.dataset_file:q} --pred-dir {input.predictions:q}"
        " --gt-dir {input.gt:q} --split {input.split:q} --out {output.metrics:q} --convention {params.convention}"
        " --nsd-tolerance-mm {params.nsd} --workers {threads} > {log:q} 2>&1"
