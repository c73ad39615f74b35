"""LightningDataModules and the generators and readers behind them, with input validation."""
