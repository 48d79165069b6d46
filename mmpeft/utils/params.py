"""Name-pattern freezing and trainable-parameter accounting, shared by hooks, tools and backbones.

Pattern semantics (used by :func:`freeze_module`, :func:`apply_freeze` and
``FreezeBackboneHook``): a parameter of ``module`` stays trainable iff one of the patterns is a
**substring of its name relative to** ``module`` (``module.named_parameters()`` names, e.g.
``stages.3.blocks.1.attn.w_msa.qkv.bias`` inside ``model.backbone``). Everything else in ``module``
is frozen (``requires_grad=False``); parameters outside ``module`` are never touched. An empty
pattern list freezes the whole module. Substrings may over-match (``'blocks.1'`` also matches
``'blocks.10'``): end a pattern with ``'.'`` to anchor it at a name boundary.
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import torch
import torch.nn as nn

from mmpeft.models.utils.freeze import count_parameters, freeze_except


class FreezeConfigError(ValueError):
    """The freezing specification does not fit the model (bad path, pattern matching nothing)."""


class FreezeMismatchError(RuntimeError):
    """A module is already partially frozen in a way that disagrees with the patterns."""


def resolve_module(model: nn.Module, path: str) -> nn.Module:
    """The submodule of ``model`` at dotted ``path`` (``'backbone'``, ``'backbone.stages'``).

    Raises:
        FreezeConfigError: no such submodule; the message lists the valid children.
    """
    module = model
    walked: List[str] = []
    for part in path.split('.'):
        child = module._modules.get(part) if part else None
        if not isinstance(child, nn.Module):
            where = '.'.join(walked) or type(model).__name__
            children = ', '.join(n for n, _ in module.named_children()) or '(none)'
            raise FreezeConfigError(
                f"module '{path}' does not exist: '{where}' has no child '{part}' "
                f'(its children: {children})')
        module = child
        walked.append(part)
    return module


def _as_patterns(patterns: Iterable[str]) -> Tuple[str, ...]:
    if isinstance(patterns, str):
        raise FreezeConfigError(
            f'trainable patterns must be a list of strings, got the string {patterns!r} '
            f'(write [{patterns!r}])')
    pats = tuple(patterns)
    for p in pats:
        if not isinstance(p, str) or not p:
            raise FreezeConfigError(f'trainable patterns must be non-empty strings, got {p!r}')
    return pats


def match_trainable(module: nn.Module, patterns: Iterable[str],
                    module_name: str = 'module') -> Set[str]:
    """Names (relative to ``module``) of the parameters matched by ``patterns``.

    Raises:
        FreezeConfigError: a pattern matches no parameter of ``module``.
    """
    pats = _as_patterns(patterns)
    names = [n for n, _ in module.named_parameters()]
    matched: Set[str] = set()
    unmatched = []
    for pat in pats:
        hits = {n for n in names if pat in n}
        if not hits:
            unmatched.append(pat)
        matched |= hits
    if unmatched:
        examples = ', '.join(names[:6]) + (', ...' if len(names) > 6 else '')
        raise FreezeConfigError(
            f"trainable pattern(s) {unmatched} match no parameter of '{module_name}' "
            f'({len(names)} parameters; patterns are substrings of names relative to '
            f"'{module_name}', e.g. {examples})")
    return matched


def freeze_module(module: nn.Module, trainable_patterns: Iterable[str],
                  module_name: str = 'module') -> List[str]:
    """Keep only the parameters matched by ``trainable_patterns`` trainable in ``module``.

    Sets ``requires_grad`` of every parameter of ``module`` (idempotent).

    Returns:
        The names (relative to ``module``) whose ``requires_grad`` changed.
    """
    keep = match_trainable(module, trainable_patterns, module_name)
    before = {n: p.requires_grad for n, p in module.named_parameters()}
    freeze_except(module, keep.__contains__)
    return [n for n, p in module.named_parameters() if p.requires_grad != before[n]]


@dataclass
class FreezeReport:
    """What :func:`apply_freeze` did to a module."""
    module_name: str
    mode: str  # 'frozen': flags were set; 'verified': the module already matched the patterns
    changed: List[str] = field(default_factory=list)
    trainable: List[str] = field(default_factory=list)
    num_trainable: int = 0
    num_total: int = 0

    @property
    def ratio(self) -> float:
        """Trainable fraction of the module's parameter elements."""
        return self.num_trainable / self.num_total if self.num_total else 0.0


def _summarise(names: Sequence[str], limit: int = 8) -> str:
    names = sorted(names)
    more = f', ... ({len(names) - limit} more)' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more


def apply_freeze(module: nn.Module, trainable_patterns: Iterable[str],
                 module_name: str = 'module') -> FreezeReport:
    """Freeze ``module`` to the patterns, or verify a module that froze itself.

    * The trainable set already equals the patterns' set: nothing changes (``mode='verified'``).
    * Every parameter is trainable (an ordinary module): freeze (``mode='frozen'``).
    * Otherwise something else (e.g. a PEFT backbone's constructor) froze a different set:
      :class:`FreezeMismatchError`, naming the disagreeing parameters.
    """
    expected = match_trainable(module, trainable_patterns, module_name)
    params = list(module.named_parameters())
    current = {n for n, p in params if p.requires_grad}
    if current == expected:
        mode, changed = 'verified', []
    elif len(current) == len(params):
        mode, changed = 'frozen', freeze_module(module, trainable_patterns, module_name)
    else:
        extra, missing = current - expected, expected - current
        msg = [f"'{module_name}' ({type(module).__name__}) is already partially frozen and its "
               f'trainable parameters disagree with the trainable patterns '
               f'{list(_as_patterns(trainable_patterns))}:']
        if extra:
            msg.append(f'  trainable but not matched ({len(extra)}): {_summarise(extra)}')
        if missing:
            msg.append(f'  matched but frozen ({len(missing)}): {_summarise(missing)}')
        msg.append('Use the patterns that describe what the module trains itself, or a module '
                   'that does not freeze itself.')
        raise FreezeMismatchError('\n'.join(msg))
    n_train = sum(p.numel() for _, p in params if p.requires_grad)
    return FreezeReport(module_name=module_name, mode=mode, changed=changed,
                        trainable=sorted(expected), num_trainable=n_train,
                        num_total=sum(p.numel() for _, p in params))


def check_trainable_ratio(report: FreezeReport, max_ratio: Optional[float]) -> None:
    """Raise :class:`FreezeConfigError` if more than ``max_ratio`` of the module trains."""
    if max_ratio is None:
        return
    if report.ratio > max_ratio:
        raise FreezeConfigError(
            f"{report.num_trainable:,} of {report.num_total:,} parameters of "
            f"'{report.module_name}' are trainable ({report.ratio:.4%}), more than "
            f'max_trainable_ratio={max_ratio} ({max_ratio:.4%}); trainable: '
            f'{_summarise(report.trainable)}')


def param_counts(model: nn.Module) -> 'OrderedDict[str, Tuple[int, int]]':
    """``{child name: (trainable, total)}`` over the top-level children with parameters.

    Parameters owned directly by ``model`` are counted under ``'(root)'``.
    """
    counts: 'OrderedDict[str, Tuple[int, int]]' = OrderedDict()
    for name, child in model.named_children():
        c = count_parameters(child)
        if c['total']:
            counts[name] = (c['trainable'], c['total'])
    own = list(model.parameters(recurse=False))
    if own:
        counts['(root)'] = (sum(p.numel() for p in own if p.requires_grad),
                            sum(p.numel() for p in own))
    return counts


def _pct(num: int, den: int) -> str:
    return f'{100.0 * num / den:.2f}%' if den else 'n/a'


def trainable_table(model: nn.Module, focus: Optional[str] = 'backbone') -> str:
    """A text table of trainable/total parameters per top-level child, a total row and the
    trainable share of the ``focus`` submodule (dotted path; skipped if it does not exist)."""
    counts = param_counts(model)
    total_t = sum(t for t, _ in counts.values())
    total_n = sum(n for _, n in counts.values())
    rows = [(name, f'{t:,}', f'{n:,}', _pct(t, n)) for name, (t, n) in counts.items()]
    rows.append(('total', f'{total_t:,}', f'{total_n:,}', _pct(total_t, total_n)))
    header = ('module', 'trainable', 'total', 'trainable %')
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]

    def fmt(r: Sequence[str]) -> str:
        return '  '.join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])])

    rule = '-' * len(fmt(header))
    lines = [fmt(header), rule] + [fmt(r) for r in rows[:-1]] + [rule, fmt(rows[-1])]
    if focus:
        try:
            sub = resolve_module(model, focus)
        except FreezeConfigError:
            sub = None
        if sub is not None:
            t = sum(p.numel() for p in sub.parameters() if p.requires_grad)
            n = sum(p.numel() for p in sub.parameters())
            lines.append(f'{focus} trainable share: {_pct(t, n)} ({t:,} / {n:,})')
    return '\n'.join(lines)


def frozen_submodules(module: nn.Module) -> List[nn.Module]:
    """The largest submodules of ``module`` (itself included) that own parameters, none of them
    trainable. Parameter-free modules (dropout, drop-path) are only included via such a parent.
    """
    out: List[nn.Module] = []

    def visit(m: nn.Module) -> None:
        ps = list(m.parameters())
        if ps and not any(p.requires_grad for p in ps):
            out.append(m)
            return
        for child in m.children():
            visit(child)

    visit(module)
    return out


def optimizers_of(optim_wrapper: object) -> List[torch.optim.Optimizer]:
    """The torch optimizers inside an ``OptimWrapper`` or ``OptimWrapperDict``."""
    if hasattr(optim_wrapper, 'optim_wrappers'):  # OptimWrapperDict
        return [ow.optimizer for ow in optim_wrapper.optim_wrappers.values()]
    return [optim_wrapper.optimizer]  # type: ignore[attr-defined]


def remove_frozen_from_optimizer(optim_wrapper: object) -> int:
    """Drop parameters with ``requires_grad=False`` from every param group (and their state).

    Groups are kept even if they become empty, so parameter schedulers that were built per group
    stay aligned. Returns the number of parameter tensors removed.
    """
    removed = 0
    for opt in optimizers_of(optim_wrapper):
        for group in opt.param_groups:
            kept = [p for p in group['params'] if p.requires_grad]
            for p in group['params']:
                if not p.requires_grad:
                    opt.state.pop(p, None)
            removed += len(group['params']) - len(kept)
            group['params'] = kept
    return removed


def frozen_in_optimizer(optim_wrapper: object,
                        model: Optional[nn.Module] = None) -> List[str]:
    """Parameters with ``requires_grad=False`` still in an optimizer (names if ``model`` given)."""
    names: Dict[int, str] = {id(p): n for n, p in model.named_parameters()} if model else {}
    found = []
    for opt in optimizers_of(optim_wrapper):
        for group in opt.param_groups:
            for p in group['params']:
                if not p.requires_grad:
                    found.append(names.get(id(p), f'<tensor {tuple(p.shape)}>'))
    return found
