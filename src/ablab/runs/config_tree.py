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


# The sections a study's header shows, and the trainer fields that shape results.
SHARED_SECTIONS = ("data", "model", "task", "trainer")
_TRAINER_FIELDS = ("max_epochs", "precision", "accelerator", "devices", "gradient_clip_val")


def _leaves(node: object, prefix: str = "") -> list[str]:
    """`key=value` for each leaf; a component shows its class name (`attention=ConvAttention`)."""
    if isinstance(node, dict):
        target = node.get("_target_")
        rest = {k: v for k, v in node.items() if k not in ("_target_", "_partial_", "_args_")}
        own = [f"{prefix}={str(target).rsplit('.', 1)[-1]}"] if target and prefix else []
        return own + [item for k, v in rest.items() for item in _leaves(v, f"{prefix}.{k}" if prefix else k)]
    if isinstance(node, list):
        return [f"{prefix}=[{','.join(str(v) for v in node)}]"]
    return [f"{prefix}={node}"]


def shared_config_lines(cfg: DictConfig, swept: list[str] = (), width: int = 110) -> list[str]:  # type: ignore[assignment]
    """The config every run of a study shares (without the `swept` keys), a few lines per section
    instead of a 150-line tree."""
    import textwrap

    from ablab.secrets import redact

    lines = []
    for section in SHARED_SECTIONS:
        node = cfg.get(section)
        if not isinstance(node, DictConfig):
            continue
        try:
            values = OmegaConf.to_container(node, resolve=True)
        except Exception:  # paths and job-time interpolations: show them as written
            values = OmegaConf.to_container(node, resolve=False)
        if section == "trainer":
            values = {k: values[k] for k in _TRAINER_FIELDS if k in values}
        varied = tuple(k.replace("/", ".") for k in swept)
        leaves = [
            leaf
            for leaf in _leaves(values)
            if "cache_dir" not in leaf
            and "${" not in leaf
            and not any(
                f"{section}.{leaf.split('=', 1)[0]}" == k
                or f"{section}.{leaf.split('=', 1)[0]}".startswith(k + ".")
                for k in varied
            )
        ]
        text = redact(f"{section}: " + " ".join(leaves))
        lines += textwrap.wrap(text, width=width, subsequent_indent="    ", break_on_hyphens=False)
    return lines
