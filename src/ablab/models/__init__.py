"""Plain nn.Modules. Swappable parts arrive as factories from config; models never branch on ablations."""
