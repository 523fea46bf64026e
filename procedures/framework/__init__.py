"""The run framework: procedure base class, runner, catalog and its schema, registry, targets,
parameter sets, input validation, shutdown on signals, waveform store. No experiment lives here."""
