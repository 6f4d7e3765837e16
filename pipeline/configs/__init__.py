"""Bundled configs and the derived-column functions they name."""
