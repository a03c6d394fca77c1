"""MLflow tracking (segmamba.tracking) against a real MLflow tracking server, started here on 127.0.0.1 with a
SQLite backend store; what the trainings and evaluations logged is read back with ``mlflow.MlflowClient``.

Expected values come from the files the trainer and the evaluation write themselves (train_log.csv,
train_summary.json) or are counted by hand, never from the tracking code. Skipped where mlflow is not installed
(the optional extra ``[tracking]``; CI installs it with ``[test]``), except the tests that need no server.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from segmamba.errors import ConfigError
from segmamba.tracking import ENVIRONMENT_VARIABLE, MlflowTarget, configured_target
from segmamba.tracking.session import numeric_leaves
from segmamba.train import PREEMPTED_EXIT_CODE
from segmamba.train.launcher import free_port

REPO = Path(__file__).resolve().parents[1]
TINY_SEGRESNET = {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}
SERVER_START_TIMEOUT_S = 300  # a loaded 2-core machine needs over a minute for the first start (SQLite migrations)


def tracking_env(uri: str, experiment: str) -> str:
    """SEGMAMBA_TRACKING's value, as workflow/rules/arguments.smk exports it."""
    return json.dumps({"mlflow": {"uri": uri, "experiment": experiment}})


# ------------------------------------------------------------------------------------------ without a server
@pytest.mark.parametrize("value", [None, "", "  ", '{"mlflow": null}', '{"mlflow": {"uri": null}}', "{}"])
def test_tracking_is_off_unless_a_uri_is_configured(value):
    environ = {} if value is None else {ENVIRONMENT_VARIABLE: value}
    assert configured_target(environ) is None


def test_tracking_target_and_its_errors():
    assert configured_target({ENVIRONMENT_VARIABLE: '{"mlflow": {"uri": "http://127.0.0.1:5000"}}'}) == MlflowTarget(
        "http://127.0.0.1:5000", "segmamba-bench"
    )
    given = configured_target({ENVIRONMENT_VARIABLE: tracking_env("sqlite:///x.db", "brats")})
    assert given == MlflowTarget("sqlite:///x.db", "brats")
    for bad, message in [
        ("{mlflow", "not valid JSON"),
        ('{"wandb": {}}', "expected"),
        ('{"mlflow": {"url": "http://x"}}', "key mlflow"),
        ('{"mlflow": {"uri": ""}}', "mlflow.uri"),
        ('{"mlflow": {"uri": "http://x", "experiment": 3}}', "mlflow.experiment"),
    ]:
        with pytest.raises(ConfigError, match=message) as caught:
            configured_target({ENVIRONMENT_VARIABLE: bad})
        assert ENVIRONMENT_VARIABLE in str(caught.value)


def test_nested_cost_values_become_metrics_and_tags():
    metrics, tags = numeric_leaves(
        "cost", {"gpu_hours": 2.5, "device": "H100", "energy": {"kwh": 1, "source": None}, "measured": True}
    )
    assert metrics == {"cost.gpu_hours": 2.5, "cost.energy.kwh": 1.0}
    assert tags == {"cost.device": "H100", "cost.measured": "true"}


@pytest.mark.slow
def test_tracking_off_needs_no_mlflow(tmp_path):
    """With SEGMAMBA_TRACKING unset the training and evaluation hooks do nothing: they run where mlflow cannot be
    imported, without a warning. (Whether mlflow is imported at all is not ours to say when it is installed:
    MONAI's handlers import it then.)"""
    script = f"""
import logging, sys
sys.modules["mlflow"] = None  # import mlflow raises ImportError
records = []
logging.getLogger().addHandler(type("H", (logging.Handler,), {{"emit": lambda self, r: records.append(r)}})())
from segmamba.train.trainer import Trainer  # the trainer module with its hooks
from segmamba.train.tracking import NO_TRACKING, start_training_run
from segmamba.tracking.evaluation import log_evaluation
from segmamba.train.settings import build_settings
settings = build_settings({{}}, {{"preprocessed": "p", "split": "s", "model": "segresnet", "out": {str(tmp_path)!r}}})
assert start_training_run(settings, "x/segresnet", False, [{{"epoch": 1, "loss": 1.0}}]) is NO_TRACKING
log_evaluation({{"dataset": "x", "metrics": {{}}}}, "m.csv", "p")
assert not [r for r in records if r.levelno >= logging.WARNING], [r.getMessage() for r in records]
"""
    env = {k: v for k, v in os.environ.items() if k != ENVIRONMENT_VARIABLE}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []  # no mlflow_run.json either


def test_schema_takes_the_tracking_block():
    import copy

    import yaml
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(REPO / "workflow/schemas/config.schema.yaml")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["tracking"] == {"mlflow": {"uri": None, "experiment": "segmamba-bench"}}  # shipped: off
    on = copy.deepcopy(config)
    on["tracking"]["mlflow"]["uri"] = "http://127.0.0.1:5000"
    validate(on, schema)
    on["tracking"]["mlflow"]["url"] = "http://127.0.0.1:5000"
    with pytest.raises(WorkflowError, match="'url' was unexpected"):
        validate(on, schema)


@pytest.mark.slow
def test_the_workflow_hands_the_tracking_block_to_its_jobs(tmp_path):
    """A job of a workflow that includes the rules' helper files sees config `tracking` in SEGMAMBA_TRACKING;
    with tracking off (the shipped config) the variable is unset, also when the calling shell had set it."""
    (tmp_path / "Snakefile").write_text(
        f'configfile: "{REPO / "config.yaml"}"\n'
        f'include: "{REPO / "workflow/rules/common.smk"}"\n'
        f'include: "{REPO / "workflow/rules/paths.smk"}"\n'
        f'include: "{REPO / "workflow/rules/arguments.smk"}"\n'
        "rule env:\n"  # Snakemake reads {{ }} as literal braces
        '    output: "env.txt"\n'
        '    shell: "echo \\"${{SEGMAMBA_TRACKING-unset}}\\" > {output}"\n'
    )
    (tmp_path / "on.yaml").write_text('tracking: {mlflow: {uri: "http://127.0.0.1:5000", experiment: demo}}\n')
    env = dict(os.environ, PYTHONPATH=str(REPO), SEGMAMBA_TRACKING='{"mlflow": {"uri": "http://stale"}}')
    for extra, expected in [
        (["--configfile", "on.yaml"], {"mlflow": {"uri": "http://127.0.0.1:5000", "experiment": "demo"}}),
        ([], None),
    ]:
        (tmp_path / "env.txt").unlink(missing_ok=True)
        command = [sys.executable, "-m", "snakemake", "-c1", *extra, "--", "env.txt"]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        text = (tmp_path / "env.txt").read_text().strip()
        assert (None if text == "unset" else json.loads(text)) == expected


# ------------------------------------------------------------------------------------------------ the server
@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` on 127.0.0.1 (SQLite backend store) in a process group of its own; its URI."""
    pytest.importorskip("mlflow", reason="mlflow is not installed (optional extra: pip install '.[tracking]')")
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"http://127.0.0.1:{free_port()}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--default-artifact-root", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", uri.rsplit(":", 1)[1], "--workers", "1",
    ]  # fmt: skip
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not answers(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer at {uri}:\n{(folder / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield uri
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (server, uvicorn worker, MLflow's job consumers), then SIGKILL to
    whatever of it is left after 10 s (the job consumers outlive a SIGTERM)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def answers(uri: str) -> bool:
    """Whether the tracking server's /health answers 200."""
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def only_run(uri: str, experiment: str):
    """The one run of an experiment (fails when there are several)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return client, runs[0]


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    """A metric's (step, value) points in step order."""
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def assert_points(logged: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    """Same steps, and values equal to float precision."""
    assert [step for step, _ in logged] == [step for step, _ in expected]
    assert [value for _, value in logged] == pytest.approx([value for _, value in expected], rel=1e-9)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three synthetic BraTS cases (16^3), preprocessed; split: 2 train, 1 val."""
    from segmamba.data.preprocess import preprocess_dataset
    from segmamba.data.split import write_split
    from segmamba.data.synth import write_synthetic_dataset

    root = tmp_path_factory.mktemp("brats")
    ids = write_synthetic_dataset("brats", root / "raw", cases=3, size=16, seed=0)
    split = write_split(root / "split.json", ids)
    preprocess_dataset("brats2023", root / "raw", root / "split.json", root / "pre")
    split.update(train=ids[:2], val=[ids[2]], test=[])
    (root / "split.json").write_text(json.dumps(split))
    return root


def tiny_settings(root: Path, out: Path, epochs: int) -> dict:
    """A tiny CPU training: 2 iterations per epoch, validated at every 2nd and at the last epoch."""
    return {
        "preprocessed": str(root / "pre"),
        "split": str(root / "split.json"),
        "model": "segresnet",
        "out": str(out),
        "epochs": epochs,
        "iters_per_epoch": 2,
        "patch_size": (16, 16, 16),
        "val_every": 2,
        "num_workers": 0,
        "device": "cpu",
        "model_overrides": TINY_SEGRESNET,
        "seed": 3,
    }


def cli_command(settings: dict) -> list[str]:
    """The ``segmamba train`` command line of ``settings``."""
    command = [sys.executable, "-m", "segmamba", "train"]
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if key == "model_overrides":
            command += [flag, json.dumps(value)]
        elif key == "patch_size":
            command += [flag, *map(str, value)]
        else:
            command += [flag, str(value)]
    return command


class StopAfterFirstEpoch:
    """Stands in for the trainer's StopRequest: a stop (as on SIGTERM) once train_log.csv is written."""

    signal_name = "test stop"

    def __init__(self, out: Path) -> None:
        self.out = out

    def install(self):
        return self

    def restore(self) -> None:
        pass

    @property
    def requested(self) -> bool:
        return (self.out / "train_log.csv").is_file()


def read_log(out: Path) -> list[dict[str, str]]:
    with open(out / "train_log.csv") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_a_stopped_training_and_its_cli_rerun_log_one_run(tracking_server, dataset, tmp_path, monkeypatch):
    """Stopped after epoch 1 (exit 75), then rerun with `segmamba train`: one MLflow run with the settings, every
    epoch's loss once and val_dice at the validated epochs, as train_log.csv, and the outcome of the summary.
    Then trained anew with another learning rate: a second run."""
    import segmamba.train.trainer as trainer_module
    from segmamba.train.settings import build_settings

    monkeypatch.setenv(ENVIRONMENT_VARIABLE, tracking_env(tracking_server, "resume"))
    out = tmp_path / "run"
    settings = tiny_settings(dataset, out, epochs=3)
    with monkeypatch.context() as patch:
        patch.setattr(trainer_module, "StopRequest", lambda: StopAfterFirstEpoch(out))
        assert trainer_module.run_training(build_settings({}, settings)) == PREEMPTED_EXIT_CODE
    client, run = only_run(tracking_server, "resume")
    assert run.info.status == "KILLED" and run.info.run_name == "brats2023/segresnet"
    assert [step for step, _ in history(client, run.info.run_id, "loss")] == [1]
    assert json.loads((out / "mlflow_run.json").read_text())["run_id"] == run.info.run_id

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    result = subprocess.run(cli_command(settings), env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resumed from" in result.stdout + result.stderr

    client, continued = only_run(tracking_server, "resume")
    run_id = continued.info.run_id
    assert run_id == run.info.run_id and continued.info.status == "FINISHED"
    rows, summary = read_log(out), json.loads((out / "train_summary.json").read_text())
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert_points(history(client, run_id, "loss"), [(int(r["epoch"]), float(r["loss"])) for r in rows])
    assert [step for step, _ in history(client, run_id, "lr")] == [1, 2, 3]
    validated = [(int(r["epoch"]), float(r["val_dice"])) for r in rows if r["val_dice"]]
    assert [step for step, _ in validated] == [2, 3]  # val_every 2, and the last epoch
    assert_points(history(client, run_id, "val_dice"), validated)

    params = continued.data.params
    assert params["model"] == "segresnet" and params["epochs"] == "3" and params["iters_per_epoch"] == "2"
    assert params["patch_size"] == "[16,16,16]" and params["val_every"] == "2" and params["lr"] == "0.01"
    assert json.loads(params["model_overrides"]) == TINY_SEGRESNET
    assert params["out"] == str(out)

    metrics, tags = continued.data.metrics, continued.data.tags
    assert metrics["final_val_dice"] == pytest.approx(summary["final_val_dice"])
    assert metrics["best_val_dice"] == pytest.approx(summary["best_val_dice"])
    assert metrics["final_loss"] == pytest.approx(float(rows[-1]["loss"]))
    for region in ("WT", "TC", "ET"):
        assert metrics[f"final_val_dice_{region}"] == pytest.approx(summary["final_val_dice_per_region"][region])
    assert tags["collapsed"] == str(summary["collapsed"]).lower()
    assert tags["checkpoint_final"] == str((out / "checkpoint_final.pt").resolve())
    assert tags["segmamba.stage"] == "train" and tags["segmamba.run_dir"] == str(out.resolve())

    # Changed settings: the trainer moves the old checkpoints aside and trains anew, into a new MLflow run.
    changed = build_settings({}, {**settings, "lr": 0.02, "restart_on_change": True})
    assert trainer_module.run_training(changed) == 0
    runs = client.search_runs([continued.info.experiment_id])
    assert len(runs) == 2
    (new,) = [r for r in runs if r.info.run_id != run_id]
    assert new.data.params["lr"] == "0.02" and new.info.status == "FINISHED"
    assert json.loads((out / "mlflow_run.json").read_text())["run_id"] == new.info.run_id
    assert [step for step, _ in history(client, new.info.run_id, "loss")] == [1, 2, 3]
    assert [step for step, _ in history(client, run_id, "loss")] == [1, 2, 3]  # the old run is left as it was


def test_the_outcome_logs_the_cost_block_and_the_collapse_verdict(tracking_server, tmp_path, monkeypatch):
    """A planted train_summary.json with a cost block (as the cost measurement adds it) and a collapse."""
    from segmamba.train.settings import build_settings
    from segmamba.train.tracking import start_training_run

    monkeypatch.setenv(ENVIRONMENT_VARIABLE, tracking_env(tracking_server, "outcome"))
    settings = build_settings({}, {"preprocessed": "p", "split": "s", "model": "uxnet", "out": str(tmp_path)})
    tracker = start_training_run(settings, "own/uxnet", False, [{"epoch": 1, "loss": 0.5, "lr": 0.01}])
    summary = {
        "final_loss": 0.5,
        "final_val_dice": 0.0,
        "final_val_dice_per_region": {"tumour": 0.0, "mean": 0.0},
        "collapsed": True,
        "collapse_reason": "the training loss did not fall",
        "cost": {"gpu_hours": 2.5, "device": "NVIDIA H100", "energy": {"kwh": 1.25}},
    }
    (tmp_path / "train_summary.json").write_text(json.dumps(summary))
    tracker.log_outcome(tmp_path / "train_summary.json", tmp_path / "checkpoint_final.pt")
    tracker.end(0)

    client, run = only_run(tracking_server, "outcome")
    assert run.info.status == "FINISHED" and run.info.run_name == "own/uxnet"
    assert history(client, run.info.run_id, "loss") == [(1, 0.5)]
    metrics, tags = run.data.metrics, run.data.tags
    assert metrics["cost.gpu_hours"] == 2.5 and metrics["cost.energy.kwh"] == 1.25
    assert tags["cost.device"] == "NVIDIA H100"
    assert metrics["final_val_dice_tumour"] == 0.0 and "final_val_dice_mean" not in metrics
    assert tags["collapsed"] == "true" and tags["collapse_reason"] == "the training loss did not fall"
    assert tags["checkpoint_final"] == str((tmp_path / "checkpoint_final.pt").resolve())


def write_labels(folder: Path, case: str, foreground: list[tuple[int, int, int]]) -> None:
    """An 8^3 uint8 label map (1 mm, identity affine) with label 1 at the given voxels."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.zeros((8, 8, 8), np.uint8)
    for voxel in foreground:
        labels[voxel] = 1
    nib.save(nib.Nifti1Image(labels, np.eye(4)), str(folder / f"{case}.nii.gz"))


def test_an_evaluation_logs_its_summary_metrics(tracking_server, tmp_path, monkeypatch):
    """Two CRC cases: Dice 2*2/(4+4) = 0.5 and 1; mean 0.75, population std 0.25, n 2."""
    from segmamba.cli import main

    truth = [(1, 1, 1), (1, 1, 2), (1, 2, 1), (1, 2, 2)]
    write_labels(tmp_path / "gt", "a", truth)
    write_labels(tmp_path / "pred" / "mymodel", "a", truth[:2] + [(5, 5, 5), (5, 5, 6)])
    write_labels(tmp_path / "gt", "b", truth + [(3, 3, 3)])
    write_labels(tmp_path / "pred" / "mymodel", "b", truth + [(3, 3, 3)])
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, tracking_env(tracking_server, "evaluation"))
    out = tmp_path / "metrics" / "mymodel.csv"
    argv = ["evaluate", "--dataset", "crc500", "--pred-dir", str(tmp_path / "pred" / "mymodel")]
    assert main([*argv, "--gt-dir", str(tmp_path / "gt"), "--out", str(out)]) == 0

    _, run = only_run(tracking_server, "evaluation")
    assert run.info.status == "FINISHED" and run.info.run_name == "evaluate crc500/mymodel"
    metrics = run.data.metrics
    assert metrics["dice_mean"] == pytest.approx(0.75) and metrics["dice_std"] == pytest.approx(0.25)
    assert metrics["dice_n"] == 2 and metrics["dice_n_undefined"] == 0
    assert metrics["foreground_mean_Dice"] == pytest.approx(0.75)
    assert run.data.params["dataset"] == "crc500" and run.data.params["n_cases"] == "2"
    assert run.data.tags["segmamba.metrics_csv"] == str(out.resolve())


@pytest.mark.slow
def test_a_tracking_server_that_is_down_gives_one_warning_and_the_training_succeeds(
    dataset, tmp_path, monkeypatch, caplog
):
    from segmamba.train.settings import build_settings
    from segmamba.train.trainer import run_training

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, tracking_env(down, "down"))
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        assert run_training(build_settings({}, tiny_settings(dataset, out, epochs=2))) == 0
    tracking_loggers = ("segmamba.tracking", "mlflow", "urllib3")  # not the trainer's own (a collapse warning)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(tracking_loggers)]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].name == "segmamba.tracking" and down in warnings[0].getMessage()
    assert (out / "checkpoint_final.pt").is_file() and (out / "train_summary.json").is_file()
    assert not (out / "mlflow_run.json").exists()
