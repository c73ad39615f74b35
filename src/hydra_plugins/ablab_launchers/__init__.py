"""ablab's Hydra launchers. Hydra only instantiates launchers from the `hydra_plugins` namespace
package, and imports every module here at start-up: keep them free of heavy imports."""
