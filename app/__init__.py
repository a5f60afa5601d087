"""memcast: forecasting sensor streams and genomes with Titans / MIRAS neural long-term memory."""

__version__ = "0.1.0"
