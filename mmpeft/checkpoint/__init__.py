"""Checkpoint concepts below the models: base records of trainable-only checkpoints and their
completion from the base file (:mod:`.base_weights`)."""
from .base_weights import (
                         ALLOW_ENV,
                         META_KEY,
                         BaseCheckpointMismatchError,
                         complete_from_base,
                         file_sha256,
                         local_sha256,
                         mark_bases,
                         pretrained_path,
                         raise_base_problems,
                         recorded_base,
)

__all__ = [
    'ALLOW_ENV', 'META_KEY', 'BaseCheckpointMismatchError', 'complete_from_base', 'file_sha256',
    'local_sha256', 'mark_bases', 'pretrained_path', 'raise_base_problems', 'recorded_base'
]
