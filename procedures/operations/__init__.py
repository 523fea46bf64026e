"""Device-level operations shared by experiments, learning and wafer runs: programming a cell
(SET/RESET/read), pulsing through the WGFMU, addressing cells through the chip controller."""
