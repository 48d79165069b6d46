"""What ``import mmpeft`` adds to every mmengine ``Runner``."""
from mmengine.runner import Runner

#: default hooks added to every runner (a config removes one with ``default_hooks=dict(name=None)``)
DEFAULT_HOOKS = dict(
    checkpoint_load=dict(type='CheckpointLoadHook'), aux_loss=dict(type='AuxLossHook'))


def add_default_hooks() -> None:
    """Make :data:`DEFAULT_HOOKS` default hooks of every ``Runner`` (idempotent)."""
    original = Runner.register_default_hooks
    if getattr(original, '_mmpeft_defaults', False):
        return

    def register_default_hooks(self, hooks=None) -> None:
        hooks = dict(hooks or {})
        for name, cfg in DEFAULT_HOOKS.items():
            if name not in hooks:
                hooks[name] = dict(cfg)
            elif hooks[name] is None:
                del hooks[name]
        original(self, hooks)

    register_default_hooks._mmpeft_defaults = True  # type: ignore[attr-defined]
    Runner.register_default_hooks = register_default_hooks
