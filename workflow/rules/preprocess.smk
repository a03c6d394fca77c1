# nnU-Net-style preprocessing (crop, resample, normalise) of every case of a dataset.


# ---------------------------------------------------------------------------------------------------------
# preprocess_dataset: one float32 image and int8 label array per case plus its properties, the
# dataset fingerprint and the normalisation parameters (configured target spacing and nnU-Net regions).
# Output: results/{dataset}/preprocessed/ (dataset.json, fingerprint.json, <case>/...).
rule preprocess_dataset:
    input:
        root=raw_root,
        split="results/{dataset}/split.json",
    output:
        preprocessed=directory("results/{dataset}/preprocessed"),
    params:
        layout=dataset_layout,
        workers=SCALE["preprocess"]["workers"],
        options=preprocess_arguments,
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
        "segmamba preprocess --dataset {params.layout} --root {input.root} --split {input.split}"
        " --out {output.preprocessed} --workers {params.workers} {params.options} > {log} 2>&1"
