"""Selective scan and causal conv1d ops."""
