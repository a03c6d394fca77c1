"""Checks of every model's configuration before any job runs (the workflow calls them while it parses).

The override-key and patch-size rules need neither torch nor MONAI. Running the constructors (to find values
they reject) imports both, which costs seconds, so the configurations whose constructors ran are remembered
in a small cache file: only the first dry run after a change of the overrides, of the model code or of the
torch / MONAI / dynamic-network-architectures versions pays for it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from segmamba.errors import ConfigError
from segmamba.io_utils import write_json_atomic
from segmamba.models.registry import check_model_config

CONSTRUCTOR_PACKAGES = ("torch", "monai", "dynamic-network-architectures")
"""Installed packages whose versions decide what the constructors accept."""


@dataclass(frozen=True)
class ModelUse:
    """One model as a configuration uses it.

    Attributes:
        name: registry name.
        overrides: constructor overrides from the config.
        overrides_key: where the overrides sit in the config.
        patch_sizes: ``{config key: patch size}`` the model runs on.
    """

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    overrides_key: str = ""
    patch_sizes: Mapping[str, Sequence[int]] = field(default_factory=dict)


def _code_fingerprint() -> str:
    """Changes whenever the model code or a package that the constructors depend on changes."""
    parts = []
    for package in CONSTRUCTOR_PACKAGES:
        try:
            parts.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package} missing")
    models = Path(__file__).parent
    for path in sorted(models.rglob("*.py")):
        stat = path.stat()
        parts.append(f"{path.relative_to(models)}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(parts)


def _use_fingerprint(use: ModelUse, in_channels: int, out_channels: int) -> str:
    """Key of one constructor check in the cache."""
    sizes = sorted({tuple(int(p) for p in patch) for patch in use.patch_sizes.values()})
    record = json.dumps([use.name, use.overrides, sizes, in_channels, out_channels], sort_keys=True, default=str)
    return hashlib.sha256(record.encode()).hexdigest()


def _read_cache(cache: Path | None, code: str) -> set[str]:
    """Fingerprints of constructor checks that passed with this code (empty if missing, unreadable or stale)."""
    if cache is None:
        return set()
    try:
        content = json.loads(cache.read_text())
        return set(content["passed"]) if content["code"] == code else set()
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def check_model_uses(
    uses: Sequence[ModelUse],
    construct: bool = True,
    cache: str | Path | None = None,
    in_channels: int = 1,
    out_channels: int = 2,
) -> None:
    """Check every model use; raise one ConfigError listing each problem on its own line.

    Args:
        uses: the models the configuration trains, measures or overrides.
        construct: also run the constructors of uses with overrides.
        cache: JSON file remembering which constructor checks passed (None: no cache).
        in_channels, out_channels: channels to construct with.

    Raises:
        ConfigError: naming the config key and the model of every problem found.
    """
    cache = Path(cache) if cache is not None else None
    construct_any = construct and any(use.overrides for use in uses)
    code = hashlib.sha256(_code_fingerprint().encode()).hexdigest() if construct_any else ""
    passed = _read_cache(cache, code) if construct_any else set()
    newly_passed = set()
    problems = []
    for use in uses:
        fingerprint = _use_fingerprint(use, in_channels, out_channels)
        run_constructor = construct and bool(use.overrides) and fingerprint not in passed
        try:
            check_model_config(
                use.name, use.overrides, use.overrides_key, use.patch_sizes, run_constructor, in_channels, out_channels
            )
        except ConfigError as error:
            problems.append(str(error))
            continue
        if run_constructor:
            newly_passed.add(fingerprint)
    if cache is not None and newly_passed:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(cache, {"code": code, "passed": sorted(passed | newly_passed)})
    if problems:
        raise ConfigError("invalid model configuration:\n" + "\n".join(problems))
