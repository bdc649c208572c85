"""VQA arena: the same question to the full, uniform 4-bit and LUQ models, side by side."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from components.budget_panel import order_scores, parse_spec
from components.model_picker import EMBEDDED_HELP
from components.workbench import bench_or_error
from luq.evaluation import answer_batch
from luq.images import load_image
from luq.memory import plan_memory
from luq.models.registry import ASSETS
from luq.plan import BitPlan
from luq.quant.spec import FULL_PRECISION
from luq.select import greedy_select, layer_order

MAX_QUESTION = 200
EXAMPLES = sorted((ASSETS / "examples").glob("*.png"))


class UploadedImage(gr.Image):
    """``gr.Image`` that hands a file it cannot decode to the handler as a path, so the
    handler's reader gives the user a clear message instead of a generic server error."""

    is_template = True  # rendered by the frontend's Image component

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except Exception:  # noqa: BLE001 - any decoding failure is reported by load_image
            return getattr(payload, "path", None)


def _card(title: str, answer: str, ms: float, mb: float) -> str:
    return f"### {title}\n## {answer or '(no answer)'}\n{ms:.0f} ms · {mb:.2f} MB of weights"


def answer_three(model: str, image, question: str, budget_mb: float, low_choice: str,
                 high_choice: str, order: str):
    """Answers with full precision, uniform high bits and the LUQ plan of the budget."""
    if image is None:
        raise gr.Error("Upload an image or pick an example first.")
    question = (question or "").strip()
    if not question:
        raise gr.Error("Type a question.")
    if len(question) > MAX_QUESTION:
        raise gr.Error(f"The question has {len(question)} characters; keep it under "
                       f"{MAX_QUESTION}.")
    try:
        picture = load_image(image if not isinstance(image, dict) else image.get("path"))
    except ValueError as err:
        raise gr.Error(f"Could not read the image: {err}") from None
    bench = bench_or_error(model)
    low, high = parse_spec(low_choice), parse_spec(high_choice)
    names = bench.layout.block_names
    ordered = layer_order(names, order, order_scores(bench, order, low, high))
    try:
        luq = greedy_select(bench.layout, ordered, high, low, int(float(budget_mb) * 1e6),
                            order_name=order).plan
    except ValueError as err:
        raise gr.Error(str(err)) from None
    plans = [("Full precision", BitPlan.uniform(names, FULL_PRECISION)),
             (f"Uniform {high.label}", BitPlan.uniform(names, high)),
             (f"LUQ ({luq.count(low)} layers {low.label})", luq)]
    cache = bench.ready((low, high))
    cards = []
    with bench.lock:  # apply-then-run: no other request can swap blocks in between
        for title, plan in plans:
            cache.apply(plan)
            start = time.perf_counter()
            text = answer_batch(bench.loaded.model, bench.loaded.processor, [picture],
                                [question])[0]
            ms = (time.perf_counter() - start) * 1e3
            mb = plan_memory(bench.layout, plan).total_bytes / 1e6
            cards.append(_card(title, text, ms, mb))
    return tuple(cards)


def build_arena_panel(model: gr.State, budget, low, high, order) -> None:
    """Lays out the VQA arena; reads the Budget tab's settings."""
    gr.Markdown(EMBEDDED_HELP + "\n\nThe LUQ model uses the plan of the Budget tab's slider.")
    with gr.Row():
        with gr.Column(scale=1):
            image = UploadedImage(type="filepath", label="Image", height=256,
                             sources=["upload", "clipboard"])
            question = gr.Textbox(label="Question", value="what color is the circle ?",
                                  max_lines=2)
            ask = gr.Button("Ask all three", variant="primary")
            if EXAMPLES:
                gr.Examples([[str(p), q] for p, q in _example_questions()], [image, question])
        with gr.Column(scale=2), gr.Row():
            cards = [gr.Markdown(f"### {t}\n_ask a question_", elem_classes="answer-card")
                     for t in ("Full precision", "Uniform 4-bit", "LUQ")]
    ask.click(answer_three, [model, image, question, budget, low, high, order], cards,
              api_name="answer", concurrency_id="model")
    question.submit(answer_three, [model, image, question, budget, low, high, order], cards,
                    concurrency_id="model")


def _example_questions() -> list[tuple[Path, str]]:
    questions = {}
    notes = ASSETS / "examples" / "questions.txt"
    if notes.exists():
        for line in notes.read_text().splitlines():
            name, _, q = line.partition("\t")
            questions[name] = q
    return [(p, questions.get(p.name, "how many objects are there ?")) for p in EXAMPLES]
