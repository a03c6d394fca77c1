"""Train stage: the published SegMamba recipe (SGD + poly LR + cross-entropy) for any registered model.

Public entry points: :func:`segmamba.train.trainer.run_training` (programmatic API),
``segmamba train`` (command line) and :func:`segmamba.train.checkpoint.load_model`.
"""

PREEMPTED_EXIT_CODE = 75
"""Exit status of a run stopped by SIGTERM/SIGUSR1 after saving ``checkpoint_latest.pt`` (EX_TEMPFAIL)."""
