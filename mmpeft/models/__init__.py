"""Models: PEFT backbones and adapters."""
from . import adapters, backbones, utils  # noqa: F401  (registers the modules)
