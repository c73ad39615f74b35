"""Layers shared by the model families (attention variants, heads)."""
