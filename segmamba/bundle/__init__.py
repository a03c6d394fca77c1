"""Portable model bundles: one zip file with a trained model's weights and everything prediction needs.

``segmamba export`` packs a finished run folder (:mod:`segmamba.bundle.export`), ``segmamba import-published``
wraps the SegMamba authors' released BraTS2023 state dict (:mod:`segmamba.bundle.published`), and
``segmamba predict --model`` reads either a bundle or a run folder (:mod:`segmamba.bundle.source`).
"""
