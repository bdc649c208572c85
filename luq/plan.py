"""BitPlan: which quantization setting each decoder block gets. Plain data, JSON round trip.

Selection produces a plan; applying it to a model is a separate step (``luq.apply``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from luq.quant.spec import QuantSpec

_SPEC_FIELDS = tuple(f.name for f in fields(QuantSpec))


@dataclass(frozen=True)
class LayerAssignment:
    """One decoder block (full module name) and how its linears are stored."""

    name: str
    spec: QuantSpec

    def to_dict(self) -> dict:
        return {"name": self.name, **asdict(self.spec)}

    @classmethod
    def from_dict(cls, data: dict) -> LayerAssignment:
        if not isinstance(data, dict) or "name" not in data:
            raise ValueError(f"each plan layer needs a 'name'; got {data!r}")
        unknown = set(data) - {"name", *_SPEC_FIELDS}
        if unknown:
            raise ValueError(f"layer {data['name']!r}: unknown keys {sorted(unknown)}; "
                             f"allowed: name, {', '.join(_SPEC_FIELDS)}")
        return cls(str(data["name"]), QuantSpec(**{k: data[k] for k in _SPEC_FIELDS if k in data}))


@dataclass(frozen=True)
class BitPlan:
    """A quantization setting per decoder block.

    Attributes:
        layers: one assignment per decoder block, in depth order.
        order: how the ultra-low blocks were chosen (``entropy``, ``random``, ``uniform``...).
        model: the model it was made for.
        memory_bytes: the plan's total weight memory when it was made (informative).
        avg_bits: average stored bits per decoder weight (informative).
        note: a human-readable remark (e.g. why the budget was not binding).
    """

    layers: tuple[LayerAssignment, ...]
    order: str = "custom"
    model: str = ""
    memory_bytes: int | None = None
    avg_bits: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a plan needs at least one layer")
        names = [a.name for a in self.layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"plan names these layers more than once: {dup}")

    @classmethod
    def uniform(cls, names: list[str], spec: QuantSpec, **kw) -> BitPlan:
        """Every block gets ``spec``."""
        return cls(tuple(LayerAssignment(n, spec) for n in names), order="uniform", **kw)

    @classmethod
    def mixed(cls, names: list[str], high: QuantSpec, low: QuantSpec, low_names, **kw) -> BitPlan:
        """Blocks in ``low_names`` get ``low``, the others ``high``."""
        low_set = set(low_names)
        unknown = low_set - set(names)
        if unknown:
            raise ValueError(f"not decoder blocks of this model: {sorted(unknown)}")
        return cls(tuple(LayerAssignment(n, low if n in low_set else high) for n in names), **kw)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.layers]

    def specs(self) -> list[QuantSpec]:
        return [a.spec for a in self.layers]

    def spec_of(self, name: str) -> QuantSpec:
        for a in self.layers:
            if a.name == name:
                return a.spec
        raise KeyError(f"{name!r} is not in this plan; layers: {self.names}")

    def count(self, spec: QuantSpec) -> int:
        """How many blocks use ``spec``."""
        return sum(a.spec == spec for a in self.layers)

    def check_layers(self, block_names: list[str]) -> None:
        """Fails unless the plan names exactly ``block_names`` in that order."""
        if self.names != list(block_names):
            missing = [n for n in block_names if n not in self.names]
            extra = [n for n in self.names if n not in block_names]
            raise ValueError(
                "plan does not match the model's decoder blocks"
                + (f"; missing: {missing}" if missing else "")
                + (f"; not in the model: {extra}" if extra else "")
                + ("; order differs" if not missing and not extra else "")
            )

    def with_summary(self, memory_bytes: int, avg_bits: float, note: str | None = None) -> BitPlan:
        return replace(self, memory_bytes=memory_bytes, avg_bits=round(avg_bits, 4),
                       note=self.note if note is None else note)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "order": self.order,
            "memory_bytes": self.memory_bytes,
            "avg_bits": self.avg_bits,
            "note": self.note,
            "layers": [a.to_dict() for a in self.layers],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict) -> BitPlan:
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
            raise ValueError("a plan is a JSON object with a 'layers' list")
        return cls(
            layers=tuple(LayerAssignment.from_dict(d) for d in data["layers"]),
            order=str(data.get("order", "custom")),
            model=str(data.get("model", "")),
            memory_bytes=data.get("memory_bytes"),
            avg_bits=data.get("avg_bits"),
            note=str(data.get("note", "")),
        )

    @classmethod
    def from_json(cls, text: str) -> BitPlan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"plan is not valid JSON: {err}") from None
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> BitPlan:
        return cls.from_json(Path(path).read_text())
