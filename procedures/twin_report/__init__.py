"""The twin-fidelity report (``memprobe twin-report``): measurements of the simulated bench
through the instruments against the published figures. A diagnostic of the twin, never used by a
procedure's logic."""
