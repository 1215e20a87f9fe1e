"""The indicator allow-list: the single source of every function the DSL may call.

Each :class:`IndicatorSpec` names its inputs (with the candle field used when omitted),
parameters (defaults and allowed ranges), outputs, lookback and warm-up. The DSL checker,
the compiler, the ``/meta/indicators`` catalogue and the ``/docs/operators`` page all read
this registry, so documentation cannot drift from what runs.

Array convention: inputs are 1-D float64 numpy arrays of equal length, aligned by bar;
outputs have the same length, NaN where not yet defined (during the lookback).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Params = tuple[float, ...]
Compute = Callable[[Sequence[FloatArray], Params], tuple[FloatArray, ...]]

#: Candle fields an input may default to. ``timestamp`` inputs are implicit (never passed).
CANDLE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "timestamp")

#: Tolerance the warm-up is sized for: recursive indicators agree with their
#: full-history values to about this relative error after ``required_warmup`` bars.
CONVERGENCE = 1e-10


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    kind: str  # "int" or "float"
    default: float
    minimum: float
    maximum: float
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        cast: Callable[[float], float | int] = int if self.kind == "int" else float
        return {
            "name": self.name,
            "type": self.kind,
            "default": cast(self.default),
            "min": cast(self.minimum),
            "max": cast(self.maximum),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class InputSpec:
    name: str
    default: str | None  # candle field used when the caller omits the input
    kind: str = "series"  # "series" or "bool"

    @property
    def is_implicit(self) -> bool:
        return self.default == "timestamp"


@dataclass(frozen=True, slots=True)
class OutputSpec:
    name: str
    kind: str = "series"  # "series" or "bool"
    description: str = ""


def no_unstable(params: Params) -> int:
    del params
    return 0


@dataclass(frozen=True)
class IndicatorSpec:
    """One callable function of the DSL.

    ``lookback(params)`` is the number of leading bars whose output is undefined (NaN);
    ``unstable(params)`` the further bars a recursive indicator needs before its value no
    longer depends on where the data started (to :data:`CONVERGENCE`).
    """

    name: str
    category: str
    description: str
    inputs: tuple[InputSpec, ...]
    params: tuple[ParamSpec, ...]
    outputs: tuple[OutputSpec, ...]
    compute: Compute
    lookback: Callable[[Params], int]
    unstable: Callable[[Params], int] = no_unstable
    check: Callable[[Params], str | None] | None = None
    source: str = "tradeforge"
    path_dependent: bool = False
    cross_sectional: bool = False
    warmup_ms: int = 0  # extra history in time (session-based indicators)
    param_aliases: dict[str, str] = field(default_factory=dict)

    @property
    def user_inputs(self) -> tuple[InputSpec, ...]:
        return tuple(i for i in self.inputs if not i.is_implicit)

    @property
    def inputs_required(self) -> bool:
        """True when inputs have no defaults and must be passed positionally."""
        return any(i.default is None for i in self.user_inputs)

    @property
    def signature(self) -> str:
        parts = [i.name if i.default is None else f"{i.name}={i.default}" for i in self.user_inputs]
        for p in self.params:
            parts.append(f"{p.name}={int(p.default) if p.kind == 'int' else p.default:g}")
        outs = ", ".join(o.name for o in self.outputs)
        ret = outs if len(self.outputs) == 1 else f"({outs})"
        return f"{self.name}({', '.join(parts)}) -> {ret}"

    def warmup(self, params: Params) -> int:
        return self.lookback(params) + self.unstable(params)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "signature": self.signature,
            "category": self.category,
            "description": self.description,
            "inputs": [
                {"name": i.name, "default": i.default, "type": i.kind} for i in self.user_inputs
            ],
            "params": [p.as_dict() for p in self.params],
            "outputs": [{"name": o.name, "type": o.kind} for o in self.outputs],
            "lookback_default": self.lookback(tuple(p.default for p in self.params)),
            "warmup_default": self.warmup(tuple(p.default for p in self.params)),
            "source": self.source,
            "path_dependent": self.path_dependent,
        }


def decay_bars(alpha: float) -> int:
    """Bars until an exponential filter with weight ``alpha`` forgets its seed."""
    if alpha >= 1.0:
        return 0
    if alpha <= 0.0:
        return 10**9
    return math.ceil(math.log(CONVERGENCE) / math.log1p(-alpha))


def ema_bars(period: float) -> int:
    return decay_bars(2.0 / (period + 1.0))


def wilder_bars(period: float) -> int:
    return decay_bars(1.0 / period)


@cache
def registry() -> dict[str, IndicatorSpec]:
    """Return every indicator by DSL name (TA-Lib wrappers first, then extras)."""
    from tradeforge.indicators import extras, talib

    out: dict[str, IndicatorSpec] = {}
    for spec in (*talib.talib_specs(), *extras.extra_specs()):
        if spec.name in out:
            raise RuntimeError(f"indicator {spec.name!r} registered twice")
        out[spec.name] = spec
    return out


def get_indicator(name: str) -> IndicatorSpec | None:
    return registry().get(name)


def indicators_catalog() -> list[dict[str, Any]]:
    """Return the catalogue served by ``GET /meta/indicators`` (one dict per function)."""
    return [spec.as_dict() for spec in sorted(registry().values(), key=lambda s: s.name)]


def categories() -> dict[str, list[IndicatorSpec]]:
    out: dict[str, list[IndicatorSpec]] = {}
    for spec in sorted(registry().values(), key=lambda s: (s.category, s.name)):
        out.setdefault(spec.category, []).append(spec)
    return out
