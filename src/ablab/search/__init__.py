"""Optuna searches whose trials are ordinary ablab runs (`hparams_search=<family>_optuna`).

The launching process asks and tells (`ablab.search.driver`, driven by the Hydra sweeper in
`hydra_plugins.ablab_sweepers`); each job reaches its own trial through the storage
(`ablab.search.trial`) to report its validation metric per epoch and to ask the pruner. The search
space comes from Hydra's override grammar (`ablab.search.space`), the storage from one string
(`ablab.search.storage`), the objectives from the run's record (`ablab.search.objectives`).
"""
