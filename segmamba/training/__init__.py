"""Training step: the published SegMamba recipe (SGD + poly LR + cross-entropy) for any registered model.

Public entry points: :func:`segmamba.training.trainer.run_training` (programmatic API),
``segmamba train`` (command line) and :func:`segmamba.training.checkpoint.load_model`.
"""

PREEMPTED_EXIT_CODE = 75
"""Exit status of a run stopped by SIGTERM/SIGUSR1 after saving ``checkpoint_latest.pt`` (EX_TEMPFAIL)."""
