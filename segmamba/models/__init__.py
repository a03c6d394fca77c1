"""Networks of the benchmark: SegMamba, its ablation variants and the six baselines, built by name.

Public API: :func:`build_model`, :func:`list_models`, :func:`count_parameters`, :func:`min_input_multiple`
(plus :func:`min_input_size` and :func:`model_parameter_count`).
"""

from segmamba.models.registry import (
    REGISTRY,
    ModelSpec,
    build_model,
    count_parameters,
    get_spec,
    list_models,
    min_input_multiple,
    min_input_size,
    model_parameter_count,
    resolve_params,
)

__all__ = [
    "REGISTRY",
    "ModelSpec",
    "build_model",
    "count_parameters",
    "get_spec",
    "list_models",
    "min_input_multiple",
    "min_input_size",
    "model_parameter_count",
    "resolve_params",
]
