"""Configuration: typed settings from layers (defaults < TOML < ATOMS_* env < CLI) and the VaultLoader."""

from atoms_core.config.settings import Settings, load_settings
from atoms_core.config.vault import Secret, SecretError, VaultLoader

__all__ = ["Secret", "SecretError", "Settings", "VaultLoader", "load_settings"]
