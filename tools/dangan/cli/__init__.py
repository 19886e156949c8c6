"""The click command-line layer: parsing options, calling the core, printing results."""
