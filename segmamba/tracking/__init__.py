"""Optional MLflow tracking of trainings and evaluations: ``tracking: {mlflow: {uri, experiment}}`` in config.yaml.

The workflow hands the config's ``tracking`` block to its jobs in the environment variable ``SEGMAMBA_TRACKING``
(JSON, exported by workflow/rules/arguments.smk; outside the workflow set it yourself, e.g.
``SEGMAMBA_TRACKING='{"mlflow": {"uri": "http://127.0.0.1:5000", "experiment": "brats"}}' segmamba train ...``).
Unset, empty, ``{"mlflow": null}`` or ``{"mlflow": {"uri": null}}``: tracking is off, the hooks
do nothing and mlflow is never imported (it is the optional extra ``pip install 'segmamba-bench[tracking]'``).

An environment variable rather than a rule param: a param is a rerun trigger, and pointing the workflow at
another tracking server must not retrain every model. What is logged, and how a rerun continues its MLflow
run, is described in :mod:`segmamba.train.tracking` and :mod:`segmamba.tracking.evaluation`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from segmamba.errors import ConfigError

#: The environment variable holding the tracking settings (JSON).
ENVIRONMENT_VARIABLE = "SEGMAMBA_TRACKING"

#: The experiment runs go to when the settings name none.
DEFAULT_EXPERIMENT = "segmamba-bench"


@dataclass(frozen=True)
class MlflowTarget:
    """Where runs are logged: the tracking server (or store) URI and the experiment's name."""

    uri: str
    experiment: str = DEFAULT_EXPERIMENT


def configured_target(environ: Mapping[str, str] = os.environ) -> MlflowTarget | None:
    """The MLflow target of ``SEGMAMBA_TRACKING``, or None when tracking is off (unset, empty, no ``mlflow.uri``).

    Raises:
        ConfigError: the variable is not a JSON object ``{"mlflow": {"uri": ..., "experiment": ...}}``.
    """
    text = environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not text:
        return None
    expected = '{"mlflow": {"uri": "http://host:port" or null, "experiment": "name"}}'
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{ENVIRONMENT_VARIABLE} is not valid JSON ({exc}); expected {expected}") from exc
    if not isinstance(value, dict) or set(value) - {"mlflow"}:
        raise ConfigError(f"{ENVIRONMENT_VARIABLE}: expected {expected}, got {text!r}")
    mlflow = value.get("mlflow")
    if mlflow is None:
        return None
    if not isinstance(mlflow, dict) or set(mlflow) - {"uri", "experiment"}:
        raise ConfigError(f"{ENVIRONMENT_VARIABLE}: key mlflow: expected {expected}, got {text!r}")
    uri, experiment = mlflow.get("uri"), mlflow.get("experiment", DEFAULT_EXPERIMENT)
    if uri is None:
        return None
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigError(f"{ENVIRONMENT_VARIABLE}: key mlflow.uri: expected a tracking URI or null, got {uri!r}")
    if not isinstance(experiment, str) or not experiment.strip():
        raise ConfigError(f"{ENVIRONMENT_VARIABLE}: key mlflow.experiment: expected a name, got {experiment!r}")
    return MlflowTarget(uri=uri.strip(), experiment=experiment)
