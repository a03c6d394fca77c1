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
    log:
        "results/logs/preprocess_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/preprocess_dataset/{dataset}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: SCALE["preprocess"]["workers"]
    resources:
        mem_mb=memory_mb("cpu"),
        runtime=runtime_minutes("cpu"),
    params:
        layout=dataset_layout,
        workers=SCALE["preprocess"]["workers"],
        options=preprocess_arguments,
    shell:
        "segmamba preprocess --dataset {params.layout} --root {input.root} --split {input.split}"
        " --out {output.preprocessed} --workers {params.workers} {params.options} > {log} 2>&1"
