"""Models: PEFT methods (``peft``), the backbones they go into (``backbones``), shared utilities."""
from . import backbones, necks, peft, rotated, utils  # noqa: F401  (registers the modules)
