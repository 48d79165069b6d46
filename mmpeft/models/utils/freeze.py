"""Freezing and trainable-parameter accounting: the one place that sets ``requires_grad``.

Two ways to say what trains, both relative to a module (``module.named_parameters()`` names):

* a rule, ``trainable(name) -> bool`` (:func:`freeze_except`), used by the PEFT backbones in their
  constructors (the parameters of the method's modules train);
* name patterns (:func:`pattern_rule`, :func:`apply_freeze`): a parameter stays trainable iff one
  of the patterns is a **substring of its name**, e.g. ``stages.3.blocks.1.attn.w_msa.qkv.bias``
  inside ``model.backbone``. An empty pattern list freezes everything. Substrings may over-match
  (``'blocks.1'`` also matches ``'blocks.10'``): end a pattern with ``'.'`` to anchor it at a name
  boundary. A pattern that matches nothing is an error. Used by ``PlainSwinTransformer(trainable=
  [...])`` (the paper's fixed / BitFit / norm-tuning / partial-1 baselines) and by
  ``FreezeBackboneHook``.
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Type

import torch.nn as nn


class FreezeConfigError(ValueError):
    """The freezing specification does not fit the model (bad path, pattern matching nothing)."""


class FreezeMismatchError(RuntimeError):
    """A module is already partially frozen in a way that disagrees with the patterns."""


def freeze_except(module: nn.Module, trainable: Callable[[str], bool]) -> Tuple[int, int]:
    """Set ``requires_grad`` of every parameter of ``module`` to ``trainable(name)``.

    Idempotent. Returns ``(num_trainable, num_frozen)`` in scalar elements.
    """
    for name, param in module.named_parameters():
        param.requires_grad_(bool(trainable(name)))
    counts = count_parameters(module)
    return counts['trainable'], counts['frozen']


def count_parameters(module: nn.Module) -> Dict[str, int]:
    """Element counts: ``{'total': ..., 'trainable': ..., 'frozen': ...}``."""
    total = trainable = 0
    for p in module.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return dict(total=total, trainable=trainable, frozen=total - trainable)


def module_prefixes(module: nn.Module, types: Tuple[Type[nn.Module], ...]) -> Tuple[str, ...]:
    """Names (relative to ``module``) of all submodules that are instances of ``types``."""
    return tuple(name for name, m in module.named_modules() if name and isinstance(m, types))


def under_prefixes(name: str, prefixes: Iterable[str]) -> bool:
    """Whether parameter ``name`` belongs to a submodule named by one of ``prefixes``."""
    return any(name.startswith(p + '.') for p in prefixes)


# ------------------------------------------------------------------------------ patterns
def as_patterns(patterns: Iterable[str]) -> Tuple[str, ...]:
    """Validate a list of trainable patterns (non-empty strings; a bare string is refused)."""
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
    pats = as_patterns(patterns)
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


def pattern_rule(module: nn.Module, patterns: Iterable[str],
                 module_name: str = 'module') -> Callable[[str], bool]:
    """The ``trainable(name)`` rule of ``patterns`` on ``module`` (each pattern must match)."""
    return match_trainable(module, patterns, module_name).__contains__


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


def summarise(names: Sequence[str], limit: int = 8) -> str:
    """``a, b, c, ... (N more)`` for log and error messages."""
    names = sorted(names)
    more = f', ... ({len(names) - limit} more)' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more


def apply_freeze(module: nn.Module, trainable_patterns: Optional[Iterable[str]],
                 module_name: str = 'module') -> FreezeReport:
    """Freeze ``module`` to the patterns, or verify a module that froze itself.

    * ``trainable_patterns`` None: nothing changes; the report describes the module as it is
      (``mode='verified'``).
    * The trainable set already equals the patterns' set: nothing changes (``mode='verified'``).
    * Every parameter is trainable (an ordinary module): freeze (``mode='frozen'``).
    * Otherwise something else (e.g. a PEFT backbone's constructor) froze a different set:
      :class:`FreezeMismatchError`, naming the disagreeing parameters.
    """
    params = list(module.named_parameters())
    current = {n for n, p in params if p.requires_grad}
    expected = current if trainable_patterns is None else match_trainable(
        module, trainable_patterns, module_name)
    if current == expected:
        mode, changed = 'verified', []
    elif len(current) == len(params):
        mode = 'frozen'
        freeze_except(module, expected.__contains__)
        changed = sorted(current - expected)
    else:
        extra, missing = current - expected, expected - current
        msg = [f"'{module_name}' ({type(module).__name__}) is already partially frozen and its "
               f'trainable parameters disagree with the trainable patterns '
               f'{list(as_patterns(trainable_patterns))}:']
        if extra:
            msg.append(f'  trainable but not matched ({len(extra)}): {summarise(extra)}')
        if missing:
            msg.append(f'  matched but frozen ({len(missing)}): {summarise(missing)}')
        msg.append('Use the patterns that describe what the module trains itself, or a module '
                   'that does not freeze itself.')
        raise FreezeMismatchError('\n'.join(msg))
    counts = count_parameters(module)
    return FreezeReport(module_name=module_name, mode=mode, changed=changed,
                        trainable=sorted(expected), num_trainable=counts['trainable'],
                        num_total=counts['total'])


def check_trainable_ratio(report: FreezeReport, max_ratio: Optional[float]) -> None:
    """Raise :class:`FreezeConfigError` if more than ``max_ratio`` of the module trains."""
    if max_ratio is None:
        return
    if report.ratio > max_ratio:
        raise FreezeConfigError(
            f"{report.num_trainable:,} of {report.num_total:,} parameters of "
            f"'{report.module_name}' are trainable ({report.ratio:.4%}), more than "
            f'max_trainable_ratio={max_ratio} ({max_ratio:.4%}); trainable: '
            f'{summarise(report.trainable)}')


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


# ------------------------------------------------------------------------------ accounting
def param_counts(model: nn.Module) -> 'OrderedDict[str, Tuple[int, int]]':
    """``{child name: (trainable, total)}`` over the top-level children with parameters.

    Parameters owned directly by ``model`` are counted under ``'(root)'``.
    """
    counts: 'OrderedDict[str, Tuple[int, int]]' = OrderedDict()
    for name, child in model.named_children():
        c = count_parameters(child)
        if c['total']:
            counts[name] = (c['trainable'], c['total'])
    own = nn.ParameterList(model.parameters(recurse=False))
    if len(own):
        c = count_parameters(own)
        counts['(root)'] = (c['trainable'], c['total'])
    return counts


def _pct(num: int, den: int) -> str:
    return f'{100.0 * num / den:.2f}%' if den else 'n/a'


def trainable_table(model: nn.Module, focus: Optional[str] = 'backbone') -> str:
    """A text table of trainable/total parameters per top-level child, a total row and the
    trainable share of the ``focus`` submodule (dotted path; skipped if it does not exist)."""
    counts = param_counts(model)
    total = count_parameters(model)
    rows = [(name, f'{t:,}', f'{n:,}', _pct(t, n)) for name, (t, n) in counts.items()]
    rows.append(('total', f"{total['trainable']:,}", f"{total['total']:,}",
                 _pct(total['trainable'], total['total'])))
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
            c = count_parameters(sub)
            lines.append(f"{focus} trainable share: {_pct(c['trainable'], c['total'])} "
                         f"({c['trainable']:,} / {c['total']:,})")
    return '\n'.join(lines)


def frozen_submodules(module: nn.Module) -> List[nn.Module]:
    """The largest submodules of ``module`` (itself included) that own parameters, none of them
    trainable. Parameter-free modules (dropout, drop-path) are only included via such a parent.
    """
    out: List[nn.Module] = []

    def visit(m: nn.Module) -> None:
        c = count_parameters(m)
        if c['total'] and not c['trainable']:
            out.append(m)
            return
        for child in m.children():
            visit(child)

    visit(module)
    return out
