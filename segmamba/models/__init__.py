"""Networks of the benchmark: SegMamba, its ablation variants and the six baselines, built by name.

Public API: :func:`build_model`, :func:`list_models`, :func:`count_parameters`, :func:`min_input_multiple`
(plus :func:`min_input_size` and :func:`model_parameter_count`).
"""

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


def __getattr__(name: str):
    """Import the registry only when one of its names is used (torch and MONAI follow when a model is built).

    This keeps ``segmamba --help`` and every other subcommand's start-up free of the model imports.
    """
    if name in __all__:
        from segmamba.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
