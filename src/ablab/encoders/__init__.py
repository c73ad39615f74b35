"""Protein encoders behind one interface (`base.Encoder`) and the on-disk embedding cache (`cache`)."""
