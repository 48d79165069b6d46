"""Models: PEFT methods (``peft``), the backbones they go into (``backbones``), shared utilities."""
from . import backbones, peft, utils  # noqa: F401  (registers the modules)
