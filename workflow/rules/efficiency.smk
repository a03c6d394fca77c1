# Memory and speed of single models (Table 5).


# ---------------------------------------------------------------------------------------------------------
# benchmark_efficiency: peak training memory (two steps, batch 2), peak inference memory (one patch), both
# allocated and reserved on CUDA, and sliding-window throughput of one model at one input size on the job's
# device, with the channels and classes of `efficiency.dataset`; out-of-memory is recorded as "OOM", not a
# failure. The JSON also names the scan backend that ran.
# {variant} is empty, or "_fused-attention" for M6 measured with PyTorch's fused attention kernel.
# Output: results/efficiency/{model}{variant}_{size}.json.
rule benchmark_efficiency:
    output:
        result="results/efficiency/{model}{variant}_{size}.json",
    log:
        "results/logs/benchmark_efficiency/{model}{variant}_{size}.log",
    benchmark:
        "results/benchmarks/benchmark_efficiency/{model}{variant}_{size}.tsv"
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
        repeats=SCALE["efficiency"]["repeats"],
        overrides=efficiency_overrides,
        variant=efficiency_variant_option,
    shell:
        "segmamba efficiency --model {wildcards.model} --size {wildcards.size} --out {output.result}"
        " --in-channels {params.in_channels} --out-channels {params.out_channels} --repeats {params.repeats}"
        " --model-overrides {params.overrides:q} {params.variant} > {log} 2>&1"


localrules:
    render_table5,
    render_efficiency_chart,


# ---------------------------------------------------------------------------------------------------------
# render_table5: TM, IM, IT and "is global" per model and size beside the paper's 128³ numbers.
# Outputs: results/tables/table5.{csv,md,tex}.
rule render_table5:
    input:
        efficiency_paths(),
    output:
        csv=report(
            "results/tables/table5.csv",
            caption="../report/table5.rst",
            category="Efficiency",
            subcategory="Table 5",
            labels={"table": "Table 5", "metric": "TM, IM, IT"},
        ),
        md="results/tables/table5.md",
        tex="results/tables/table5.tex",
    log:
        "results/logs/render_table5/table5.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        table="table5",
        reduced_scale=config["scale"] != "paper",
        dataset=config["efficiency"]["dataset"],
    script:
        "../scripts/render_table.py"


# ---------------------------------------------------------------------------------------------------------
# render_efficiency_chart: bar charts of TM, IM and IT per model and size (OOM marked).
# Output: results/figures/efficiency.png.
rule render_efficiency_chart:
    input:
        results=efficiency_paths(),
    output:
        figure=report(
            "results/figures/efficiency.png",
            caption="../report/efficiency.rst",
            category="Efficiency",
            subcategory="Chart",
            labels={"figure": "Efficiency chart", "metric": "TM, IM, IT"},
        ),
    log:
        "results/logs/render_efficiency_chart/efficiency.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        figure="efficiency",
    script:
        "../scripts/render_figure.py"
