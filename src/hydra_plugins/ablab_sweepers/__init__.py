"""ablab's Hydra sweepers. Hydra imports every module here at start-up: keep them free of heavy imports."""
