"""Whole networks (MONAI-style ``nets``): SegMamba and its variants, 3D UX-Net, MONAI baseline builders.

Names are imported on first use (PEP 562), so importing one network's module (as the model registry does)
does not import the others' modules.
"""

import importlib

_MODULE_OF = {
    "MambaEncoder": "segmamba.models.nets.segmamba",
    "SegMamba": "segmamba.models.nets.segmamba",
    "UXNet": "segmamba.models.nets.uxnet",
    "UXNetEncoder": "segmamba.models.nets.uxnet",
    "UnetrStyleNet": "segmamba.models.nets.shared_decoder",
    "build_mednext": "segmamba.models.nets.monai_baselines",
    "build_segresnet": "segmamba.models.nets.monai_baselines",
    "build_swinunetr": "segmamba.models.nets.monai_baselines",
    "build_unetr": "segmamba.models.nets.monai_baselines",
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    """Import the module that defines ``name`` when it is first used."""
    if name in _MODULE_OF:
        return getattr(importlib.import_module(_MODULE_OF[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
