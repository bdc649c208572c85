"""Budget tab: a memory budget (or an accuracy floor) -> greedy LUQ plan -> applied model."""

from __future__ import annotations

import gradio as gr

from components import figures, measured
from components import inputs as ui
from components.downloads import ggml_type_table, plan_downloads
from components.gguf_card import GGUF_NOTE, gguf_line, make_gguf
from components.guard import (
    TIME_LIMITS_S,
    Deadline,
    finite_number,
    public,
    short_text,
    whole_number,
)
from components.queues import EXPORT, INTERACTIVE, PROBE
from components.settings import (
    DEFAULT_HIGH,
    DEFAULT_LOW,
    HIGH_CHOICES,
    LOW_CHOICES,
    TOWER_CHOICES,
    fallback_notes,
    parse_spec,
)
from components.workbench import session_or_error
from luq.damage import allocate_curve, allocate_selection
from luq.defaults import uniform_baselines
from luq.memlimit import held_line
from luq.quant.spec import QuantSpec
from luq.select import ORDER_LABELS, ORDERS, PLAN_ORDERS
from luq.session import Session
from luq.speed import load_costs, speed_line
from luq.tasks import DataUnavailable, calibration_source, task_names
from luq.tasks.evaluation import evaluation_for, evaluation_key
from luq.tasks.task import HARNESSES
from luq.tower import TOWER_TYPES, tower_parts, tower_spec

FAST = "allocate-fast"  # the allocator among plans predicted at least as fast as Q4_K_M
ORDER_CHOICES = [(ORDER_LABELS[o], o) for o in (*PLAN_ORDERS, FAST)]
MAX_DOCUMENTS = 1000  # documents per evaluation the app runs for one request
RULES = [("Memory budget: stop once the plan fits", "budget"),
         ("Accuracy floor: stop before accuracy falls below it (the paper's Figure 3)",
          "accuracy")]
HARNESS_CHOICES = [("each benchmark's own (official)", "official"),
                   ("lmms-eval 0.7.3's, quirks included", "lmms-eval")]
HELP = (
    "The defaults are llama.cpp's own types, Q1_0 ultra-low and Q4_K high, quantized by ggml "
    "as the GGUF stores them, so the accuracy shown is the file's. On the embedded model Q1_0 "
    "is where the choice of layers visibly matters: every block at Q1_0 keeps 96.5 %, but "
    "some mixed plans lose 20 points, and the orders differ (see the saved curves below). "
    "Memory counts every stored byte: codes, scales, bitmaps, and the parts kept in fp16 "
    "(embeddings, lm_head, vision tower, projector).")


def parse_order(order: str) -> str:
    if order not in (*PLAN_ORDERS, FAST):
        raise gr.Error(f"Unknown order {order!r}; known: {', '.join((*PLAN_ORDERS, FAST))}.")
    return order


def select(session: Session, budget_bytes: int | None, high: QuantSpec, low: QuantSpec,
           order: str, floor: float | None = None):
    """The tab's order's plan (``allocate-fast``: the allocator's, among the plans predicted
    to decode at least as fast as uniform Q4_K_M in llama.cpp)."""
    if order == FAST:
        return allocate_selection(session, high, low, budget_bytes, floor, None,
                                  tower_parts(session.tower), min_speed=1.0)
    if floor is not None:
        return session.plan_for_accuracy(floor, high, low, order)
    return session.plan_for_budget(budget_bytes, high, low, order)


def use_tower(session: Session, tower: str) -> None:
    """Puts the model's vision tower at the chosen type (a setting of the loaded model)."""
    if tower not in TOWER_TYPES:
        raise gr.Error(f"Unknown vision tower type {tower!r}; known: {', '.join(TOWER_TYPES)}.")
    session.set_tower(tower_spec(tower))


@public("Setting the budget range")
def budget_limits(model: str, low_choice: str, high_choice: str, tower: str = "F16"):
    """Slider range: from every block ultra-low to the full-precision model (MB)."""
    session = session_or_error(model)
    low, high = parse_spec(low_choice), parse_spec(high_choice)
    use_tower(session, tower)
    lo, default, fp = session.budget_range(high, low)
    return gr.update(minimum=round(lo / 1e6, 4), maximum=round(fp / 1e6, 4),
                     value=round(default / 1e6, 4), step=0.001)


def use_task(session: Session, task: str, data: str, limit, harness: str = "official") -> None:
    """Points the session's accuracy axis (and, for real data, its calibration) at the task.

    The embedded model's default is its own shapes test split; any other data also becomes
    the calibration source, so profiles and statistics come from the same distribution.
    ``harness`` names the scoring rules (each benchmark's own, or lmms-eval's).
    """
    if task not in task_names():
        raise gr.Error(f"Unknown task {task!r}; known: {', '.join(task_names())}.")
    if harness not in HARNESSES:
        raise gr.Error(f"Unknown scoring rules {harness!r}; known: {', '.join(HARNESSES)}.")
    data = short_text(data, "Task data") or None
    limit = whole_number(limit, "The number of documents", 1, MAX_DOCUMENTS)
    if evaluation_key(task, data, limit, harness) == session.evaluation.key:
        return  # nothing changed: no data to load
    try:
        evaluation = evaluation_for(task, data, limit, harness)
        source = calibration_source() if task == "shapes" and data is None \
            else calibration_source(task, 64, data=data)
    except (DataUnavailable, ValueError, OSError) as err:
        raise gr.Error(str(err)) from None
    session.set_source(source)
    session.set_evaluation(evaluation)


def plan_for(session: Session, rule: str, budget_mb, min_accuracy, high: QuantSpec,
             low: QuantSpec, order: str):
    """The selection the tab's stopping rule asks for, or a ``gr.Error`` saying why not."""
    floor = finite_number(min_accuracy, "The accuracy floor") if rule == "accuracy" else None
    budget = finite_number(budget_mb, "The budget (MB)", 0, 1e7) if floor is None else None
    try:
        return select(session, None if budget is None else int(budget * 1e6), high, low, order,
                      floor)
    except (TypeError, ValueError) as err:
        raise gr.Error(str(err) if str(err) else "The budget must be a number of MB.") \
            from None


def _curves(session: Session, order: str, high: QuantSpec, low: QuantSpec, compare: bool,
            progress) -> tuple[dict, list[dict], dict | None]:
    """Measured curves (all orders when ``compare``), uniform points and full precision."""
    report = Deadline("Measuring the curve", TIME_LIMITS_S["curve"], progress)
    curves = {}
    for other in ORDERS:
        if other == order or compare:
            pts = session.curve(other, high, low, measure=compare, progress=report)
            curves[other] = [(p["memory_bytes"] / 1e6, p["accuracy"]) for p in pts]
    for name, speed in (("allocate", None), (FAST, 1.0)):
        if order == name or (compare and name == "allocate"):
            pts = allocate_curve(session, high, low, measure=compare, progress=report,
                                 min_speed=speed)
            curves[name] = [(p["memory_bytes"] / 1e6, p["accuracy"]) for p in pts]
    uniform = [session.point(session.uniform(s), s.label, measure=compare)
               for s in [*uniform_baselines(high), low]]
    return curves, [u for u in uniform if u], session.point(None, "fp16", measure=compare)


@public("Planning")
def make_plan(model: str, budget_mb: float, low_choice: str, high_choice: str, order: str,
              compare: bool = False, rule: str = "budget", min_accuracy: float = 0.9,
              task: str = "shapes", data: str = "", limit: float = 100,
              harness: str = "official", tower: str = "F16", progress=gr.Progress()):
    """Greedy plan under the stopping rule, applied by swapping; figures, summary, files.

    A plan whose accuracy was never measured is shown at once without it, then again with
    it: the page shows the plan while the questions run (a slow model's first moves)."""
    session = session_or_error(model)
    use_task(session, task, data, limit, harness)
    use_tower(session, tower)
    low, high = parse_spec(low_choice), parse_spec(high_choice)
    order = parse_order(order)
    if rule not in dict((v, k) for k, v in RULES):
        raise gr.Error(f"Unknown stopping rule {rule!r}.")
    sel = plan_for(session, rule, budget_mb, min_accuracy, high, low, order)
    limit = (f"budget {float(budget_mb):.3f} MB" if rule == "budget"
             else f"accuracy floor {float(min_accuracy):.1%}")
    accuracy = session.known_accuracy(sel.plan)
    if accuracy is None:
        yield _reply(session, sel, low, high, order, limit, None, False, progress)
        accuracy = session.accuracy(sel.plan)
    yield _reply(session, sel, low, high, order, limit, accuracy, bool(compare), progress)


def _reply(session: Session, sel, low: QuantSpec, high: QuantSpec, order: str, limit: str,
           accuracy: float | None, compare: bool, progress) -> tuple:
    """The tab's outputs for ``sel`` (``accuracy`` None: still being measured)."""
    curves, uniform, full = _curves(session, order, high, low, compare, progress)
    real = session.resident(sel.plan)  # also leaves the chosen plan in place for the arena
    mem, evaluation = sel.memory, session.evaluation
    tower_mb = sum(mem.breakdown.get(k, 0) for k in ("vision", "projector")) / 1e6
    measured = (f"**{evaluation.metric.capitalize()} {accuracy:.1%}**" if accuracy is not None
                else f"**{evaluation.metric.capitalize()}: being measured**, shown here when "
                     "done")
    summary = (_composition(sel, low, high, len(session.block_names))
               + f". **Memory {mem.total_bytes / 1e6:.3f} MB** "
               f"({limit}), **{mem.avg_bits:.2f} average bits** per decoder weight; vision "
               f"tower and projector {session.tower.label} ({tower_mb:.3f} MB). "
               f"{measured} ({evaluation.description}).\n\nReal memory: the running model "
               f"holds **{real['resident_weight_bytes'] / 1e6:.3f} MB** of weight tensors "
               f"(modules in use, dense caches included). {held_line()}"
               + gguf_line(session, sel.plan, mem.total_bytes)
               + " " + speed_line(session.layout, sel.plan, load_costs())
               + (f"\n\n_{sel.note}_" if sel.note else "")
               + "".join(f"\n\n_{line}_" for line in fallback_notes(
                   [i for b in session.layout.blocks for _, (_, i) in b.linears], low, high)))
    figure = figures.cached(figures.tradeoff_curve, curves, uniform, full,
                            None if accuracy is None else (mem.total_bytes / 1e6, accuracy),
                            _saved_curves(session, high, low), evaluation.metric)
    plan_dict = sel.plan.to_dict()
    return (figures.cached(figures.bit_bars, plan_dict),
            figures.cached(figures.memory_breakdown, mem.breakdown), summary,
            figure, plan_downloads(sel.plan),
            {**plan_dict, "accuracy": accuracy, "n_low": sel.n_low})


def _composition(sel, low: QuantSpec, high: QuantSpec, n: int) -> str:
    """What the plan puts where: two settings, or the allocator's count per type."""
    if sel.plan.order != "allocate":  # allocate-fast plans are the allocator's too
        return f"**{sel.n_low} of {n}** decoder layers ultra-low ({low.label}), the rest " \
            f"{high.label}"
    counts = {}
    for a in sel.plan.layers:
        counts[a.spec.label] = counts.get(a.spec.label, 0) + 1
    return "Allocated by measured damage: " + ", ".join(
        f"**{k}** x{v}" for k, v in counts.items())


def _saved_curves(session: Session, high: QuantSpec, low: QuantSpec) -> dict | None:
    """The saved benchmark's curves when they were measured on this model and settings."""
    saved = measured.load("tradeoff")
    if saved is None or saved.get("model") != session.name or \
            (saved.get("high"), saved.get("low")) != (high.label, low.label):
        return None
    return {o: [(p["memory_bytes"] / 1e6, p["accuracy"]) for p in pts]
            for o, pts in saved["curves"].items()}


def initial_figure():
    """What the curve shows before the first plan: the saved curves of every order."""
    saved = measured.load("tradeoff")
    return measured.tradeoff_figure(saved) if saved else None


def build_budget_panel(model: gr.State):
    """Lays out the Budget tab; returns the controls the arena reads."""
    gr.Markdown(HELP)
    with gr.Row():
        low = ui.Dropdown(LOW_CHOICES, value=DEFAULT_LOW, label="Ultra-low setting")
        high = ui.Dropdown(HIGH_CHOICES, value=DEFAULT_HIGH, label="High setting")
        tower = ui.Dropdown(TOWER_CHOICES, value="F16", label="Vision tower and projector",
                            info="a setting of the loaded model, shared by its users here")
        order = ui.Dropdown(ORDER_CHOICES, value="entropy", label="Order")
        compare = ui.Checkbox(False, label="Measure the whole curve: every order and the "
                              "uniform baselines (about a minute, once)")
    with gr.Row():
        rule = ui.Radio(RULES, value="budget", label="Stopping rule", scale=2)
        min_accuracy = ui.Slider(0, 1, value=0.9, step=0.01, label="Accuracy floor",
                                 info="used by the accuracy rule", scale=1)
    with gr.Row():
        task = ui.Dropdown(task_names(), value="shapes", label="Accuracy axis: task",
                           info="the embedded model answers shapes; other models need real "
                                "data (MME, TextVQA, POPE, ...)")
        data = gr.Textbox(label="Task data", placeholder="hub id or local folder (default: the "
                          "task's hub dataset)", info="also the calibration source")
        limit = ui.Number(100, label="Documents", precision=0, minimum=1)
        harness = ui.Radio(HARNESS_CHOICES, value="official", label="Scoring rules",
                           info="replies are stripped under both; shapes scores alike")
    budget = ui.Slider(0.1, 10, value=3, step=0.001, label="Memory budget (MB of weights)")
    summary = gr.Markdown()
    curve = gr.Plot(initial_figure(), label="Memory vs accuracy (saved curves dashed; the "
                    "star is this plan)")
    with gr.Row():
        bits = gr.Plot(label="Bits per layer")
        breakdown = gr.Plot(label="Memory breakdown")
    download = gr.File(label="Downloads: plan (JSON), GPTQModel rules, llama.cpp overrides",
                       file_count="multiple")
    with gr.Row():
        gguf_button = gr.Button("Build this plan as GGUF for llama.cpp", scale=1)
        gguf_file = gr.File(label="GGUF + mmproj + README.md (zip): llama-mtmd-cli and "
                            "llama-server run it", scale=2)
    with gr.Accordion("How LUQ settings map to GGUF types", open=False):
        gr.Markdown(ggml_type_table() + GGUF_NOTE)
    plan_json = gr.JSON(label="Plan", visible=False)
    saved = measured.load("tradeoff")
    with gr.Accordion("The saved trade-off benchmark, in numbers", open=False):
        gr.Markdown(measured.tradeoff_markdown(saved))

    inputs = [model, budget, low, high, order, compare, rule, min_accuracy, task, data, limit,
              harness, tower]
    outputs = [bits, breakdown, summary, curve, download, plan_json]
    # a move made while a plan's accuracy is measured runs after it (not dropped)
    budget.release(make_plan, inputs, outputs, api_name="plan", trigger_mode="always_last",
                   **INTERACTIVE)
    for control in (order, rule, min_accuracy, task, limit, harness):
        control.input(make_plan, inputs, outputs, api_visibility="private",
                      trigger_mode="always_last", **INTERACTIVE)
    # measuring every curve takes a minute once: its own queue, never ahead of slider moves
    compare.input(make_plan, inputs, outputs, api_visibility="private", **PROBE)
    gguf_button.click(make_gguf, [model, plan_json], gguf_file, api_name="gguf", **EXPORT)
    for control in (low, high, tower):  # the new range and default budget, then its plan
        control.input(budget_limits, [model, low, high, tower], budget,
                      api_visibility="private").success(
            make_plan, inputs, outputs, api_visibility="private", trigger_mode="always_last",
            **INTERACTIVE)
    return budget, low, high, order, tower, inputs, outputs
