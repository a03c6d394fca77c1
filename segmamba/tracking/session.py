"""One process's connection to an MLflow tracking server, which must never fail the work it tracks.

:class:`MlflowSession` runs every call to the server through :meth:`MlflowSession.call`: the first error (server
down, a refused request, mlflow not installed) logs one warning and turns tracking off for the rest of the
process; the training or evaluation goes on. Unless the user set them, MLflow's HTTP retries are shortened
(:data:`HTTP_DEFAULTS`: 2 retries, 30 s timeout; MLflow's own defaults retry for minutes), so a server that is
down costs seconds once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from typing import Any

from segmamba.tracking import MlflowTarget

logger = logging.getLogger("segmamba.tracking")

#: MLflow HTTP settings (environment variables MLflow reads) used unless the user set them.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}

#: Most metrics, params and tags MLflow accepts in one ``log_batch`` request.
BATCH_LIMITS = {"metrics": 1000, "params": 100, "tags": 100}


class MlflowSession:
    """The MLflow client of one process, created on first use (mlflow is imported only then)."""

    def __init__(self, target: MlflowTarget) -> None:
        self.target = target
        self.active = True
        self._client = None

    def call(self, action: str, function: Callable[..., Any], *args: Any) -> Any:
        """``function(client, *args)``, or None once tracking is off; the first error warns once and turns it off.

        Args:
            action: what the call does, for the warning ("starting the run of results/...").
        """
        if not self.active:
            return None
        try:
            with quiet_http_retries():
                return function(self.client(), *args)
        except Exception as exc:  # tracking must never fail the training or evaluation
            self.active = False
            hint = " (pip install 'segmamba-bench[tracking]')" if isinstance(exc, ImportError) else ""
            logger.warning(
                "MLflow tracking at %s failed while %s: %s: %s%s. Tracking is off for the rest of this process; "
                "the results on disk are complete, and a rerun of a training logs the epochs missing here.",
                self.target.uri,
                action,
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                hint,
            )
            return None

    def client(self):
        """The ``mlflow.MlflowClient`` of the target (shortened HTTP retries unless set, see HTTP_DEFAULTS)."""
        if self._client is None:
            for name, value in HTTP_DEFAULTS.items():
                os.environ.setdefault(name, value)
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.target.uri)
        return self._client


@contextmanager
def quiet_http_retries():
    """Silence urllib3's per-retry warnings: a failure is reported once, by MlflowSession.call."""
    pool_logger = logging.getLogger("urllib3.connectionpool")
    level = pool_logger.level
    pool_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pool_logger.setLevel(level)


def experiment_id(client, name: str) -> str:
    """The id of experiment ``name``, created when missing (also when a parallel job creates it meanwhile)."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def log_values(
    client,
    run_id: str,
    metrics: Mapping[str, float] | Iterable[tuple[str, float, int]] = (),
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> None:
    """Log metrics (``{name: value}`` at step 0, or ``(name, value, step)`` triples), params and tags in batches."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    triples = [(k, v, 0) for k, v in metrics.items()] if isinstance(metrics, Mapping) else list(metrics)
    entities = {
        "metrics": [Metric(name, float(value), now, step) for name, value, step in triples],
        "params": [Param(name, str(value)) for name, value in (params or {}).items()],
        "tags": [RunTag(name, str(value)) for name, value in (tags or {}).items()],
    }
    while any(entities.values()):
        batch = {kind: items[: BATCH_LIMITS[kind]] for kind, items in entities.items()}
        client.log_batch(run_id, **batch)
        entities = {kind: items[BATCH_LIMITS[kind] :] for kind, items in entities.items()}


def numeric_leaves(prefix: str, value: Any) -> tuple[dict[str, float], dict[str, str]]:
    """Split a nested JSON value into metrics (numbers) and tags (text, booleans, lists), named by their path.

    ``numeric_leaves("cost", {"gpu_hours": 2.5, "device": "A100", "energy": {"kwh": 1}})`` gives
    ``({"cost.gpu_hours": 2.5, "cost.energy.kwh": 1.0}, {"cost.device": "A100"})``; None values are left out.
    """
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            more_metrics, more_tags = numeric_leaves(f"{prefix}.{key}", item)
            metrics.update(more_metrics)
            tags.update(more_tags)
    elif isinstance(value, bool) or isinstance(value, (str, list)):
        tags[prefix] = str(value).lower() if isinstance(value, bool) else str(value)
    elif isinstance(value, (int, float)):
        metrics[prefix] = float(value)
    return metrics, tags
