# Inference on the test split (of the holdout split or of the training's cross-validation fold).


# ---------------------------------------------------------------------------------------------------------
# predict: Gaussian sliding-window inference (mirror TTA per config) of the test cases,
# mapped back to the original grid and affine.
# Output: results/{RUN_ID}/predictions/{model}/<case>.nii.gz.
rule predict:
    input:
        checkpoint=f"results/{RUN_ID}/models/{{model}}/checkpoint_final.pt",
        preprocessed="results/{dataset}/preprocessed",
        split=run_split,
    output:
        predictions=directory(f"results/{RUN_ID}/predictions/{{model}}"),
    log:
        f"results/logs/predict/{RUN_ID}/{{model}}.log",
    benchmark:
        f"results/benchmarks/predict/{RUN_ID}/{{model}}.tsv"
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
