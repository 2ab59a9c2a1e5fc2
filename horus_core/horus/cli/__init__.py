"""The `horus` command (main.py) and what its subcommands need: projects, shared-memory cleanup, SBOM."""
