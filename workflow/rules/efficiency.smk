# Memory and speed of single models (Table 5).


# ---------------------------------------------------------------------------------------------------------
# efficiency: peak training memory (two steps, batch 2), peak inference memory (one patch), both
# allocated and reserved on CUDA, and sliding-window throughput of one model at one input size on the job's
# device, with the channels and classes of `efficiency.dataset`; out-of-memory is recorded as "OOM", not a
# failure. The JSON also names the scan backend that ran.
# {variant} is empty, or "_fused-attention" for M6 measured with PyTorch's fused attention kernel.
# Output: results/efficiency/{model}{variant}_{size}.json.
rule efficiency:
    output:
        result="results/efficiency/{model}{variant}_{size}.json",
    log:
        "results/logs/efficiency/{model}{variant}_{size}.log",
    benchmark:
        "results/benchmarks/efficiency/{model}{variant}_{size}.tsv"
    wildcard_constraints:
        variant="|".join(EFFICIENCY_VARIANTS),
    conda:
        "../../envs/segmamba-gpu.yaml"
    threads: job_threads("efficiency")
    resources:
        gpu=gpu_count("efficiency"),
        cpus_per_gpu=cpus_per_gpu("efficiency"),
        mem_mb=memory_mb("efficiency"),
        runtime=runtime_minutes("efficiency"),
    params:
        in_channels=efficiency_in_channels,
        out_channels=efficiency_out_channels,
        settings=stage_settings("efficiency", exclude=("sizes",)),
        overrides=efficiency_overrides,
        variant=efficiency_variant_option,
    shell:
        "segmamba efficiency --model {wildcards.model} --size {wildcards.size} --out {output.result:q}"
        " --in-channels {params.in_channels} --out-channels {params.out_channels} --settings {params.settings:q}"
        " --model-overrides {params.overrides:q} {params.variant} > {log:q} 2>&1"
