"""ablab: ablation studies as one command."""
