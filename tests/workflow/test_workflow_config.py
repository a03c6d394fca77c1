"""config.yaml against its schema, and the conda environments against pyproject.toml."""

from __future__ import annotations

import copy
import json
import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from workflow_helpers import REPO, copy_workflow, run_snakemake

SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")


def shipped_config() -> dict:
    """The config.yaml as shipped."""
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_config_is_valid():
    validate(shipped_config(), SCHEMA)


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ((), "epoch"),
        (("scales", "demo", "train"), "epoch"),
        (("datasets", "brats2023"), "rot"),
        (("datasets", "brats2023"), "regions"),
        (("scales", "paper", "resources", "train"), "gres"),
    ],
)
def test_unknown_keys_are_rejected_by_name(path, key):
    config = copy.deepcopy(shipped_config())
    node = config
    for part in path:
        node = node[part]
    node[key] = 1
    with pytest.raises(WorkflowError, match=rf"Additional properties are not allowed \('{key}' was unexpected\)"):
        validate(config, SCHEMA)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("scale",), "huge", "'huge' is not one of"),
        (("models",), ["segmamba", "resnet"], "'resnet' is not one of"),
        (("scales", "demo", "train", "patch_size"), [32, 32], "too short"),
        (("evaluation", "convention"), "nnunet", "'nnunet' is not one of"),
    ],
)
def test_invalid_values_are_rejected(path, value, message):
    config = copy.deepcopy(shipped_config())
    node = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(WorkflowError, match=message):
        validate(config, SCHEMA)


def own_dataset(**entry) -> dict:
    """The shipped config with one dataset of your own, ``kits19``, added."""
    config = copy.deepcopy(shipped_config())
    config["datasets"]["kits19"] = {"activate": True, "format": "nnunet", "root": "/data/kits19", **entry}
    return config


def test_a_dataset_of_your_own_is_valid_with_format_root_regions_and_spacing():
    validate(own_dataset(regions={"kidney": [1, 2], "tumour": [2]}, target_spacing=[0.8, 0.8, 3]), SCHEMA)


@pytest.mark.parametrize(
    ("name", "entry", "message"),
    [
        ("KiTS19", {"format": "nnunet", "root": "/d"}, "'KiTS19' does not match any of the regexes"),
        ("3d_data", {"format": "nnunet", "root": "/d"}, "'3d_data' does not match any of the regexes"),
        ("kits19", {"root": "/d"}, "'format' is a required property"),
        ("kits19", {"format": "nnunet"}, "'root' is a required property"),
        ("kits19", {"format": "nifti", "root": "/d"}, "'nifti' is not one of"),
        ("kits19", {"format": "nnunet", "root": "/d", "rot": 1}, r"\('rot' was unexpected\)"),
        ("kits19", {"format": "nnunet", "root": "/d", "regions": {"Mean": [1]}}, "'Mean' does not match"),
        ("kits19", {"format": "nnunet", "root": "/d", "regions": {"mean": [1]}}, "'mean' does not match"),
        ("kits19", {"format": "nnunet", "root": "/d", "regions": {"core": [0]}}, "0 is less than the minimum"),
        ("kits19", {"format": "nnunet", "root": "/d", "regions": {"core": []}}, "should be non-empty"),
    ],
)
def test_bad_datasets_of_your_own_are_rejected(name, entry, message):
    config = copy.deepcopy(shipped_config())
    config["datasets"][name] = {"activate": True, **entry}
    with pytest.raises(WorkflowError, match=message):
        validate(config, SCHEMA)


@pytest.mark.slow
@pytest.mark.parametrize("missing", ["root", "dataset.json"])
def test_dry_run_names_a_missing_root_or_dataset_json(tmp_path, missing):
    workdir = copy_workflow(tmp_path / "wf")
    root = tmp_path / "Dataset001_Mine"
    if missing == "dataset.json":
        (root / "imagesTr").mkdir(parents=True)
    (tmp_path / "own.yaml").write_text(
        yaml.safe_dump({"datasets": {"mine": {"activate": True, "format": "nnunet", "root": str(root)}}})
    )
    result = run_snakemake(workdir, "-n", "--configfile", str(tmp_path / "own.yaml"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    expected = f"root {root} does not exist" if missing == "root" else f"file {root / 'dataset.json'}: missing"
    assert "config datasets.mine: " in output and expected in output, output[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cases", "meta", "expected"),
    [
        (1, {}, ["dataset mine: 1 case(s) are too few for the train/val/test split (fractions 0.7/0.1/0.2: 0 train"]),
        (6, {"numTraining": 7}, ["key numTraining: 7, but {images} holds 6 cases"]),
        (
            6,
            {"labels": ["background", "tumour"], "numTraining": "6"},
            ["key labels: must be an object {{name: value}}, got a list", "key numTraining: must be a non-negative"],
        ),
    ],
)
def test_dry_run_names_every_problem_of_a_dataset_json_and_a_too_small_dataset(tmp_path, cases, meta, expected):
    """The dry run lists the case files only (empty files do); each problem is a line naming the key and file."""
    workdir = copy_workflow(tmp_path / "wf")
    root = tmp_path / "raw"
    (root / "imagesTr").mkdir(parents=True)
    for index in range(cases):
        (root / "imagesTr" / f"case_{index:03d}_0000.nii.gz").touch()
    meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "tumour": 1}, "numTraining": cases, **meta}
    (root / "dataset.json").write_text(json.dumps(meta))
    (tmp_path / "own.yaml").write_text(
        yaml.safe_dump({"datasets": {"mine": {"activate": True, "format": "nnunet", "root": str(root)}}})
    )
    result = run_snakemake(workdir, "-n", "--configfile", str(tmp_path / "own.yaml"))
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).splitlines()
    for fragment in expected:
        fragment = fragment.format(images=root / "imagesTr")
        line = next((line for line in lines if fragment in line), None)
        assert line is not None, "\n".join(lines[-30:])
        assert "config datasets.mine: " in line
        assert "fractions" in line or f"file {root / 'dataset.json'}: key " in line


@pytest.mark.slow
def test_dry_run_names_an_unconfigured_efficiency_dataset(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"efficiency": {"activate": True, "dataset": "nowhere"}}))
    result = run_snakemake(workdir, "-n", "--configfile", str(tmp_path / "c.yaml"))
    assert result.returncode != 0
    assert "config: efficiency.dataset 'nowhere' is not listed under datasets" in result.stdout + result.stderr


@pytest.mark.slow
def test_snakemake_reports_an_unknown_key_clearly(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    (tmp_path / "typo.yaml").write_text("efficency: {activate: false}\n")
    result = run_snakemake(workdir, "-n", "--configfile", str(tmp_path / "typo.yaml"))
    assert result.returncode != 0
    assert "Additional properties are not allowed ('efficency' was unexpected)" in result.stdout + result.stderr


def _leaf_properties(schema: dict, node: dict, path: str = ""):
    """Yield (path, property schema) of every property in the schema, following local $refs."""
    if "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    for name, child in node.get("properties", {}).items():
        resolved = child
        if "$ref" in child:
            yield from _leaf_properties(schema, child, f"{path}.{name}")
            target = schema
            for part in child["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            resolved = {**target, **child}
        else:
            yield from _leaf_properties(schema, child, f"{path}.{name}")
        yield f"{path}.{name}", resolved


def test_every_schema_key_is_described_and_leaves_have_defaults():
    schema = yaml.safe_load(open(SCHEMA))
    properties = list(_leaf_properties(schema, schema))
    assert len(properties) > 40
    for path, node in properties:
        assert node.get("description"), f"{path} has no description"
        if node.get("type") != "object" and "properties" not in node:
            assert "default" in node, f"{path} has no default"


def _pip_pins(env_file) -> dict[str, str]:
    """{package: version} of the `pip:` section of a conda env file and `pip install X==V` in its post-deploy."""
    env = yaml.safe_load(env_file.read_text())
    pins = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            for requirement in entry["pip"]:
                name, version = requirement.split("==")
                pins[name.lower()] = version
    post_deploy = env_file.with_name(env_file.name.replace(".yaml", ".post-deploy.sh"))
    if post_deploy.exists():
        for name, version in re.findall(r"([A-Za-z0-9_.-]+)==([0-9A-Za-z.+]+)", post_deploy.read_text()):
            pins[name.lower()] = version
    return pins


def _pyproject_requirements() -> tuple[dict[str, Requirement], dict[str, Requirement]]:
    """(runtime dependencies, cuda extra) of pyproject.toml, by lower-case name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {Requirement(r).name.lower(): Requirement(r) for r in project["dependencies"]}
    cuda = {Requirement(r).name.lower(): Requirement(r) for r in project["optional-dependencies"]["cuda"]}
    return runtime, cuda


#: Workflow drivers, needed where snakemake runs, not inside the jobs' environments.
DRIVER_PACKAGES = {"snakemake", "snakemake-executor-plugin-slurm"}


def test_gpu_env_pins_every_package_dependency_within_pyproject_ranges():
    runtime, cuda = _pyproject_requirements()
    pins = _pip_pins(REPO / "envs/segmamba-gpu.yaml")
    for name, requirement in {**runtime, **cuda}.items():
        if name in DRIVER_PACKAGES:
            continue
        assert name in pins, f"envs/segmamba-gpu.yaml lacks {name} (a pyproject dependency)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"envs/segmamba-gpu.yaml pins {name}=={pins[name]}, pyproject wants {requirement.specifier}"
        )
    assert "torch" in pins and "mamba-ssm" in pins and "causal-conv1d" in pins


def test_analysis_env_is_a_consistent_subset_of_the_package_dependencies():
    runtime, _ = _pyproject_requirements()
    gpu_pins = _pip_pins(REPO / "envs/segmamba-gpu.yaml")
    pins = _pip_pins(REPO / "envs/analysis.yaml")
    assert "torch" not in pins  # light: tables and figures need no deep-learning stack
    for name, version in pins.items():
        assert name in runtime, f"envs/analysis.yaml pins {name}, which pyproject.toml does not list"
        assert runtime[name].specifier.contains(version, prereleases=True)
        assert gpu_pins[name] == version, f"{name}: analysis pins {version}, segmamba-gpu pins {gpu_pins[name]}"


def test_every_rule_uses_an_existing_env_file():
    referenced = set()
    for rule_file in (REPO / "workflow/rules").glob("*.smk"):
        referenced |= set(re.findall(r'"\.\./\.\./(envs/[\w.-]+\.yaml)"', rule_file.read_text()))
    assert referenced == {"envs/segmamba-gpu.yaml", "envs/analysis.yaml"}
    for path in referenced:
        assert (REPO / path).exists()
