"""The experiments: one module per PyMeasure procedure (forming, I-V cycling, pulse trains,
program-and-verify, endurance, retention, conductance maps, 2T2R BER)."""
