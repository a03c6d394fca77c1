"""Train stage: the published SegMamba recipe (SGD + poly LR + cross-entropy) for any registered model.

Public entry points: :func:`segmamba.train.trainer.run_training` (programmatic API),
``segmamba train`` (command line). Training-time loading and augmentation are ``dataloading`` and
``augmentation``; a trained model is read back with :func:`segmamba.models.checkpoint.load_model`.
"""

PREEMPTED_EXIT_CODE = 75
"""Exit status of a run stopped by SIGTERM/SIGUSR1 after saving ``checkpoint_latest.pt`` (EX_TEMPFAIL)."""
