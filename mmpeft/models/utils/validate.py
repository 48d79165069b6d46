"""Checks of integer settings, so that a wrong value fails at construction with its name."""
import numbers


def check_int(owner: str, name: str, value: object, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum``; a clear error otherwise.

    Raises:
        TypeError: not an integer (``2.5``, ``'8'``, ``True``).
        ValueError: an integer below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{owner}: {name} must be an integer, got {value!r} '
                        f'({type(value).__name__})')
    if value < minimum:
        raise ValueError(f'{owner}: {name} must be >= {minimum}, got {value}')
    return int(value)
