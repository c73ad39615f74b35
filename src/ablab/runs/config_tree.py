"""Print the composed config as a rich tree at the start of a run."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

FIRST = ("experiment", "data", "model", "task", "trainer", "callbacks", "logger", "paths")


def print_config_tree(cfg: DictConfig) -> None:
    """One branch per top-level section, main sections first; values resolved where they can be."""
    import rich
    import rich.syntax
    import rich.tree

    from ablab.secrets import redact

    tree = rich.tree.Tree("config", style="dim")
    keys = [k for k in FIRST if k in cfg] + [k for k in cfg if k not in FIRST]
    for key in keys:
        branch = tree.add(str(key), style="bold")
        node = cfg[key]
        try:
            text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
        except Exception:
            text = OmegaConf.to_yaml(node) if isinstance(node, DictConfig) else str(node)
        # Printed output lands in SLURM and CI logs: secret values are replaced, as in every record.
        branch.add(rich.syntax.Syntax(redact(text), "yaml", theme="ansi_dark"))
    rich.print(tree)
