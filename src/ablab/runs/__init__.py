"""Run identity, records and execution: what makes a sweep resumable and trustworthy."""
