"""A plan's predicted llama.cpp decode speed, from a per-type cost table measured per machine.

Decoding one token reads every weight once, so on a CPU (where llama.cpp's decode is bound by
its dot products) its time is close to ``sum over tensors of weights * k[type]``, ``k`` the
measured nanoseconds per weight of each ggml type (``python -m benchmarks.decode_costs``: files
with every block at one type, at TinyLlama-1.1B's row widths, 2 threads). A plan is priced by
the types its GGUF export stores (:mod:`luq.export.rules`: a ``ggml`` setting's own type, a
research quantizer's mapping, Q4_K_M's Q6_K ``attn_v`` / ``ffn_down``, row fallbacks), and its
speed is given relative to the same model as uniform Q4_K_M. What no weight accounts for
(sampling, attention over the context) is left out: small at 1 B parameters, dominant for the
embedded 10 M-parameter model, where every plan decodes at about the same speed.

The table this machine measured is read from the cache (``$LUQ_CACHE_DIR/decode_costs.json``);
otherwise the one shipped in ``assets/`` (measured on the 2-core machine the README names).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from luq.export import rules
from luq.memory import ModelLayout
from luq.plan import BitPlan
from luq.profile import cache_dir

SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "decode_costs.json"
GGUF_NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
              "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}


@dataclass(frozen=True)
class DecodeCosts:
    """llama.cpp's decode cost of one weight of each ggml type, on one machine.

    Attributes:
        ns_per_weight: ``(type, nanoseconds per weight per decoded token)``, sorted by type.
        threads: llama.cpp threads of the measurement.
        date: when it was measured.
        machine: what it was measured on.
        shape: the measured files' shape.
    """

    ns_per_weight: tuple[tuple[str, float], ...]
    threads: int
    date: str
    machine: str
    shape: str

    def cost(self, qtype: str) -> float:
        """Nanoseconds per weight of ``qtype`` (ValueError: not in the table)."""
        table = dict(self.ns_per_weight)
        if qtype not in table:
            raise ValueError(f"the decode-cost table ({self.date}) has no {qtype}, which this "
                             "model's rows need (python -m benchmarks.decode_costs measures "
                             "the offered types, not their row fallbacks)")
        return table[qtype]

    @property
    def source(self) -> str:
        """One line naming where the figures come from."""
        return f"llama.cpp, {self.threads} threads, {self.machine}, {self.date}"

    def to_dict(self) -> dict:
        return {"ns_per_weight": dict(self.ns_per_weight), "threads": self.threads,
                "date": self.date, "machine": self.machine, "shape": self.shape}

    @classmethod
    def from_dict(cls, data: dict) -> DecodeCosts:
        return cls(tuple(sorted((str(t), float(v)) for t, v in data["ns_per_weight"].items())),
                   int(data["threads"]), str(data["date"]), str(data["machine"]),
                   str(data["shape"]))


def costs_path() -> Path:
    """This machine's measured table (written by ``benchmarks.decode_costs``)."""
    return cache_dir() / "decode_costs.json"


def save_costs(costs: DecodeCosts, path: str | Path | None = None) -> Path:
    """Writes the table (default: this machine's cache) and returns its path."""
    path = Path(path) if path else costs_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(costs.to_dict(), indent=1) + "\n")
    return path


def load_costs(path: str | Path | None = None) -> DecodeCosts | None:
    """``path``'s table, else this machine's, else the shipped one; None when none exists."""
    for candidate in ([Path(path)] if path else [costs_path(), SHIPPED]):
        try:
            return _read_costs(candidate, candidate.stat().st_mtime_ns)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # missing or unreadable: the next one
    return None


@lru_cache(maxsize=8)
def _read_costs(path: Path, _mtime_ns: int) -> DecodeCosts:
    """The table in ``path``, parsed once per version of the file (slider moves ask often)."""
    return DecodeCosts.from_dict(json.loads(path.read_text()))


def _gguf_name(linear: str, index: int) -> str:
    suffix = linear.rsplit(".", 1)[-1]
    return f"blk.{index}.{GGUF_NAMES.get(suffix, suffix)}.weight"


def stored_tensors(layout: ModelLayout, plan: BitPlan, ultra_low: str | None = None
                   ) -> list[tuple[int, list[tuple[int, str]]]]:
    """Per decoder block (depth order), its linears' ``(weights, stored ggml type)``; the
    output head last, as block ``-1``."""
    types = rules.block_types(plan, ultra_low)
    exact = frozenset(rules.block_index(a.name) for a in plan.layers if a.spec.method == "ggml")
    out = []
    for block in layout.blocks:
        i = rules.block_index(block.name)
        tensors = []
        for name, (rows, width) in block.linears:
            planned = rules.gguf_tensor_type(_gguf_name(name, i), types, exact=exact)
            tensors.append((rows * width, rules.fallback_type(planned or "F16", width)))
        out.append((i, tensors))
    heads = [shape for part, shape in layout.matrices if part == "lm_head"] or \
        [shape for part, shape in layout.matrices if part == "embeddings"][:1]  # tied
    out.append((-1, [(r * w, rules.fallback_type("Q6_K", w)) for r, w in heads]))
    return out


def decode_ns(layout: ModelLayout, plan: BitPlan, costs: DecodeCosts,
              ultra_low: str | None = None) -> float:
    """Predicted nanoseconds per decoded token spent on ``plan``'s weights."""
    return sum(n * costs.cost(t) for _, tensors in stored_tensors(layout, plan, ultra_low)
               for n, t in tensors)


def q4_k_m(layout: ModelLayout) -> BitPlan:
    """Uniform Q4_K_M: every block at the research 4-bit setting, which exports as Q4_K with
    Q4_K_M's Q6_K ``attn_v`` / ``ffn_down``."""
    from luq.quant.spec import QuantSpec

    return BitPlan.uniform(layout.block_names, QuantSpec("rtn", 4, 64))


def relative_speed(layout: ModelLayout, plan: BitPlan, costs: DecodeCosts,
                   ultra_low: str | None = None) -> float:
    """``plan``'s predicted decode speed over uniform Q4_K_M's (above 1: faster)."""
    return decode_ns(layout, q4_k_m(layout), costs) / decode_ns(layout, plan, costs, ultra_low)


def plan_speed(layout: ModelLayout, plan: BitPlan) -> float | None:
    """``plan``'s predicted speed over uniform Q4_K_M's, to 3 places (None: no cost table)."""
    costs = load_costs()
    try:
        return None if costs is None else round(relative_speed(layout, plan, costs), 3)
    except ValueError:  # a row fallback type the table lacks
        return None


def speed_line(layout: ModelLayout, plan: BitPlan, costs: DecodeCosts | None,
               ultra_low: str | None = None) -> str:
    """One line for a summary: the predicted speed and where the table comes from."""
    if costs is None:
        return "Predicted decode speed: no cost table (python -m benchmarks.decode_costs)"
    try:
        ratio = relative_speed(layout, plan, costs, ultra_low)
    except ValueError as err:
        return f"Predicted decode speed: {err}"
    return (f"Predicted llama.cpp decode speed: {ratio:.2f}x uniform Q4_K_M "
            f"(weights only; {costs.source})")


def block_ns(layout: ModelLayout, plan: BitPlan, costs: DecodeCosts) -> list[float]:
    """Predicted nanoseconds per token of each decoder block's weights under ``plan``."""
    return [sum(n * costs.cost(t) for n, t in tensors)
            for i, tensors in stored_tensors(layout, plan) if i >= 0]


def head_ns(layout: ModelLayout, costs: DecodeCosts) -> float:
    """Predicted nanoseconds per token of the output head (Q6_K, as Q4_K_M stores it)."""
    return sum(n * costs.cost(t) for i, tensors in stored_tensors(
        layout, q4_k_m(layout)) if i < 0 for n, t in tensors)

