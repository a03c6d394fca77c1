# Inference on the test split.


# ---------------------------------------------------------------------------------------------------------
# predict: Gaussian sliding-window inference (mirror TTA per config) of the test cases,
# mapped back to the original grid and affine.
# Output: results/{dataset}/predictions/{model}/<case>.nii.gz.
rule predict:
    input:
        checkpoint="results/{dataset}/models/{model}/checkpoint_final.pt",
        preprocessed="results/{dataset}/preprocessed",
        split="results/{dataset}/split.json",
    output:
        predictions=directory("results/{dataset}/predictions/{model}"),
    log:
        "results/logs/predict/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/predict/{dataset}/{model}.tsv"
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("predict")
    resources:
        gpu=gpu_count("predict"),
        cpus_per_gpu=cpus_per_gpu("predict"),
        mem_mb=memory_mb("predict"),
        runtime=runtime_minutes("predict"),
    params:
        settings=stage_settings("predict"),
    shell:
        "segmamba predict --checkpoint {input.checkpoint:q} --preprocessed {input.preprocessed:q}"
        " --split {input.split:q} --subset test --out {output.predictions:q}"
        " --settings {params.settings:q} > {log:q} 2>&1"
