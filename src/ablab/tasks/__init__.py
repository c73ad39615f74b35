"""LightningModules: each owns its family's loss, metrics and optimisation; models stay plain."""
