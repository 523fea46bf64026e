"""Reading what runs wrote: figure extraction from curves, device histories, figures to files,
Parquet export. (The public reading API is :mod:`procedures.analysis`.)"""
