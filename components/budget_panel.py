"""Budget tab: a memory budget -> greedy LUQ plan -> applied model, its accuracy and curve."""

from __future__ import annotations

import json
import tempfile

import gradio as gr

from components import figures, measured
from components.workbench import EVAL_QUESTIONS, Workbench, bench_or_error
from luq.calibration import CalibrationConfig
from luq.defaults import HIGH, LOW
from luq.memory import plan_memory
from luq.pipeline import run_profile, sensitivity_report
from luq.plan import BitPlan
from luq.profile import EntropyConfig
from luq.quant.spec import FULL_PRECISION, QuantSpec
from luq.select import budget_range, greedy_select, layer_order, mixed_plan

ORDER_CHOICES = [("LUQ: lowest entropy first", "entropy"),
                 ("highest entropy first", "entropy-desc"), ("random", "random"),
                 ("by depth", "depth"), ("measured sensitivity", "sensitivity")]
SETTINGS = {
    "billm": LOW,  # the defaults (luq/defaults.py)
    "billm-split": QuantSpec("billm", 1, 0, split=True),
    "rtn2": QuantSpec("rtn", 2, 64),
    "rtn1": QuantSpec("rtn", 1, 0),
    "gptq2": QuantSpec("gptq", 2, 64),
    "rtn4": HIGH,
    "gptq4": QuantSpec("gptq", 4, 64),
    "awq4": QuantSpec("awq", 4, 64),
    "rtn3": QuantSpec("rtn", 3, 64),
}
LOW_CHOICES = [("BiLLM-style binarization, per-channel scales", "billm"),
               ("BiLLM-style binarization with split scales", "billm-split"),
               ("RTN 2-bit, group 64", "rtn2"), ("RTN 1-bit, per-channel", "rtn1"),
               ("GPTQ 2-bit, group 64", "gptq2")]
HIGH_CHOICES = [("RTN 4-bit, group 64", "rtn4"), ("GPTQ 4-bit, group 64", "gptq4"),
                ("AWQ 4-bit, group 64", "awq4"), ("RTN 3-bit, group 64", "rtn3")]
GROUP = 64
HELP = (
    "The ultra-low default is BiLLM-style binarization with per-channel scales: on the "
    "embedded model it is where the choice of layers visibly matters. Binarizing decoder "
    "block 0 alone costs about 65 points and block 2 about 20, the other ten blocks "
    "nothing, while uniform 2-bit RTN costs nothing at all (so layer choice would not "
    "show). Memory counts every stored byte: codes, fp16 scales and zero points, bitmaps, "
    "and the parts kept in fp16 (embeddings, lm_head, vision tower, projector).")


def parse_spec(choice: str) -> QuantSpec:
    try:
        return SETTINGS[choice]
    except (KeyError, TypeError):
        raise gr.Error(f"Unknown quantization setting {choice!r}; known: "
                       f"{', '.join(SETTINGS)}.") from None



def order_scores(bench: Workbench, order: str, low: QuantSpec, high: QuantSpec):
    if order in ("random", "depth"):
        return None
    calib = CalibrationConfig()
    if order == "sensitivity":
        data = sensitivity_report(bench.loaded, calib, low, high, bench.ready((low, high)),
                                  "kmeans")
        return [x["sensitivity_kl"] for x in data["layers"]]
    with bench.lock:
        bench.cache.restore()
        return run_profile(bench.loaded, calib, EntropyConfig()).values()


def budget_limits(model: str, low_choice: str, high_choice: str):
    """Slider range: from every block ultra-low to the full-precision model (MB)."""
    bench = bench_or_error(model)
    low, high = parse_spec(low_choice), parse_spec(high_choice)
    lo, _ = budget_range(bench.layout, high, low)
    fp = plan_memory(bench.layout, BitPlan.uniform(bench.layout.block_names,
                                                   FULL_PRECISION)).total_bytes
    _, hi4 = budget_range(bench.layout, high, low)
    return gr.update(minimum=round(lo / 1e6, 4), maximum=round(fp / 1e6, 4),
                     value=round((lo + hi4) / 2e6, 4), step=0.001)


def order_curve(bench: Workbench, order: str, low: QuantSpec, high: QuantSpec, scores,
                evaluate: bool, progress=None) -> list[tuple[float, float]]:
    """(MB, accuracy) after 0..L blocks go ultra-low in ``order``.

    With ``evaluate`` every point is measured (memoised per plan); without, only the points
    already measured are returned, so a slider move never waits for new evaluations.
    """
    names = bench.layout.block_names
    seeds = range(3) if order == "random" else range(1)
    points = []
    for n in range(len(names) + 1):
        accs, mb = [], 0.0
        for seed in seeds:
            ordered = layer_order(names, order, scores, seed)
            plan, report = mixed_plan(bench.layout, high, low, ordered[:n], order)
            acc = bench.plan_accuracy(plan) if evaluate else bench.known_accuracy(plan)
            if acc is not None:
                accs.append(acc)
            mb = report.total_bytes / 1e6
        if len(accs) == len(seeds):
            points.append((mb, sum(accs) / len(accs)))
        if progress and evaluate:
            progress((n + 1) / (len(names) + 1), desc=f"{order}: {n} blocks ultra-low")
    return points


def make_plan(model: str, budget_mb: float, low_choice: str, high_choice: str, order: str,
              compare: bool = False, progress=gr.Progress()):
    """Greedy plan under the budget, applied by swapping; figures, summary and JSON file."""
    bench = bench_or_error(model)
    low, high = parse_spec(low_choice), parse_spec(high_choice)
    if order not in dict((v, k) for k, v in ORDER_CHOICES):
        raise gr.Error(f"Unknown order {order!r}.")
    try:
        budget = float(budget_mb)
    except (TypeError, ValueError):
        raise gr.Error("The budget must be a number of MB.") from None
    scores = order_scores(bench, order, low, high)
    ordered = layer_order(bench.layout.block_names, order, scores)
    try:
        sel = greedy_select(bench.layout, ordered, high, low, int(budget * 1e6),
                            order_name=order, model=model)
    except ValueError as err:
        raise gr.Error(str(err)) from None
    accuracy = bench.plan_accuracy(sel.plan)
    curves = {}
    for other in [order] + [v for _, v in ORDER_CHOICES if v != order]:
        if other == order or compare:
            sc = scores if other == order else order_scores(bench, other, low, high)
            curves[other] = order_curve(bench, other, low, high, sc, compare, progress)
    uniform = []
    for spec in [QuantSpec("rtn", b, GROUP) for b in (4, 3, 2)] + [low]:
        plan = BitPlan.uniform(bench.layout.block_names, spec)
        acc = bench.plan_accuracy(plan) if compare else bench.known_accuracy(plan)
        if acc is not None:
            uniform.append({"spec": spec.label, "accuracy": acc,
                            "memory_bytes": plan_memory(bench.layout, plan).total_bytes})
    with bench.lock:
        bench.cache.apply(sel.plan)  # leave the chosen plan in place for the arena
    plan_dict = sel.plan.to_dict()
    mem = sel.memory
    summary = (f"**{sel.n_low} of {len(ordered)}** decoder layers ultra-low ({low.label}), "
               f"the rest {high.label}. **Memory {mem.total_bytes / 1e6:.3f} MB** "
               f"(budget {budget:.3f} MB), **{mem.avg_bits:.2f} average bits** per decoder "
               f"weight. **Accuracy {accuracy:.1%}** (first answer word, greedy) on "
               f"{EVAL_QUESTIONS} fixed test questions."
               + (f"\n\n_{sel.note}_" if sel.note else ""))
    path = tempfile.NamedTemporaryFile("w", suffix="-luq-plan.json", delete=False)
    with path:
        json.dump(plan_dict, path, indent=2)
    return (figures.bit_bars(plan_dict), figures.memory_breakdown(mem.breakdown), summary,
            figures.tradeoff_curve(curves, uniform, None, (mem.total_bytes / 1e6, accuracy)),
            path.name, {**plan_dict, "accuracy": accuracy, "n_low": sel.n_low})


def build_saved_curve() -> None:
    """The embedded model's saved benchmark curve (every order, uniform baselines)."""
    saved = measured.load("tradeoff")
    with gr.Accordion("Measured on the embedded model: the saved trade-off benchmark",
                      open=saved is None):
        gr.Markdown(measured.tradeoff_markdown(saved))
        if saved is not None:
            gr.Plot(measured.tradeoff_figure(saved), label="Saved memory vs accuracy")


def build_budget_panel(model: gr.State):
    """Lays out the Budget tab; returns the controls the arena reads."""
    gr.Markdown(HELP)
    with gr.Row():
        low = gr.Dropdown(LOW_CHOICES, value="billm", label="Ultra-low setting")
        high = gr.Dropdown(HIGH_CHOICES, value="rtn4", label="High setting")
        order = gr.Dropdown(ORDER_CHOICES, value="entropy", label="Order")
        compare = gr.Checkbox(False, label="Measure the whole curve: every order and the "
                              "uniform baselines (about a minute, once)")
    budget = gr.Slider(0.1, 10, value=3, step=0.001, label="Memory budget (MB of weights)")
    summary = gr.Markdown()
    with gr.Row():
        bits = gr.Plot(label="Bits per layer")
        breakdown = gr.Plot(label="Memory breakdown")
    curve = gr.Plot(label="Memory vs accuracy")
    download = gr.File(label="Plan (JSON)")
    plan_json = gr.JSON(label="Plan", visible=False)
    build_saved_curve()

    inputs = [model, budget, low, high, order, compare]
    outputs = [bits, breakdown, summary, curve, download, plan_json]
    budget.release(make_plan, inputs, outputs, api_name="plan", concurrency_id="model")
    for control in (low, high, order, compare):
        control.input(make_plan, inputs, outputs, concurrency_id="model")
    for control in (low, high):
        control.input(budget_limits, [model, low, high], budget)
    return budget, low, high, order, inputs, outputs
