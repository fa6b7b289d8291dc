"""@record: @dataclass, cheaper to define. The model and the probes' own records use it.

Python 3.11 compiles every method @dataclass generates with exec(), ~0.3 ms each:
__init__, __repr__, __eq__, and for frozen classes __setattr__, __delattr__ and
__hash__ too. A snapshot command defines ~50 of these classes before its first
probe; @record generates only __init__ (and a frozen class's __setattr__ and
__delattr__) and shares one __repr__, __eq__ and __hash__ built from the field
names, with the same results. The model's 33 classes: 20-30 ms with @dataclass,
12 ms with @record (`python -X importtime -c 'import ciliumtui.model'`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:  # only a marker for the type checker (typing has it from 3.11 on)

    def dataclass_transform(**_: object) -> Any:
        return lambda decorator: decorator


_C = TypeVar("_C", bound=type)


@overload
def record(cls: _C, /) -> _C: ...
@overload
def record(*, frozen: bool = False) -> Callable[[_C], _C]: ...


@dataclass_transform(field_specifiers=(field,))
def record(cls: Any = None, /, *, frozen: bool = False) -> Any:
    """As @dataclass / @dataclass(frozen=True): the repr of the repr=True fields,
    equality of the compare=True fields of the same class; a frozen record hashes
    those, a mutable one is unhashable."""

    def make(cls: Any) -> Any:
        made: Any = dataclass(repr=False, eq=False, frozen=frozen)(cls)
        fields = dataclasses.fields(made)
        shown = tuple(f.name for f in fields if f.repr)
        compared = tuple(f.name for f in fields if f.compare)
        hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))

        def __repr__(self: Any) -> str:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{type(self).__qualname__}({values})"

        def __eq__(self: Any, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return tuple(getattr(self, n) for n in compared) == tuple(
                getattr(other, n) for n in compared
            )

        def __hash__(self: Any) -> int:
            return hash(tuple(getattr(self, n) for n in hashed))

        made.__repr__ = __repr__
        made.__eq__ = __eq__
        made.__hash__ = __hash__ if frozen else None  # as @dataclass(eq=True) leaves it
        return made

    return make if cls is None else make(cls)
