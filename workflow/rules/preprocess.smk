# nnU-Net-style preprocessing (crop, resample, normalise) of every case of a dataset.


# ---------------------------------------------------------------------------------------------------------
# preprocess_dataset: one float32 image and int8 label array per case plus its properties, the
# dataset fingerprint and the normalisation parameters.
# Output: results/{dataset}/preprocessed/ (dataset.json, fingerprint.json, <case>/...).
rule preprocess_dataset:
    input:
        root=raw_root,
        split="results/{dataset}/split.json",
    output:
        preprocessed=directory("results/{dataset}/preprocessed"),
    params:
        workers=SCALE["preprocess"]["workers"],
    log:
        "results/logs/preprocess_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/preprocess_dataset/{dataset}.tsv"
    threads: SCALE["preprocess"]["workers"]
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    conda:
        "../../envs/segmamba-gpu.yaml"
    shell:
        "segmamba preprocess --dataset {wildcards.dataset} --root {input.root} --split {input.split}"
        " --out {output.preprocessed} --workers {params.workers} > {log} 2>&1"
