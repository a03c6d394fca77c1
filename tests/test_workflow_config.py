"""config.yaml against its schema, and the conda environments against pyproject.toml."""

from __future__ import annotations

import copy
import re
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate
from test_workflow_support import REPO, copy_workflow, run_snakemake

SCHEMA = str(REPO / "workflow/schemas/config.schema.yaml")


def shipped_config() -> dict:
    """The config.yaml as shipped."""
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_config_is_valid():
    validate(shipped_config(), SCHEMA)


@pytest.mark.parametrize(
    ("path", "key"),
    [((), "epoch"), (("scales", "demo", "train"), "epoch"), (("datasets", "brats2023"), "rot"),
     (("datasets",), "kits19"), (("scales", "paper", "resources", "train"), "gres")],
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
    [(("scale",), "huge", "'huge' is not one of"), (("models",), ["segmamba", "resnet"], "'resnet' is not one of"),
     (("scales", "demo", "train", "patch_size"), [32, 32], "too short"),
     (("evaluation", "convention"), "nnunet", "'nnunet' is not one of")],
)
def test_invalid_values_are_rejected(path, value, message):
    config = copy.deepcopy(shipped_config())
    node = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(WorkflowError, match=message):
        validate(config, SCHEMA)


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
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"envs/segmamba-gpu.yaml pins {name}=={pins[name]}, pyproject wants {requirement.specifier}"
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
