"""VQA arena: the same question to the full, uniform 4-bit and LUQ models, side by side, and
to the LUQ plan's GGUF in llama.cpp."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from components import inputs as ui
from components.budget_panel import parse_order, select
from components.guard import (
    TIME_LIMITS_S,
    Deadline,
    TimeLimit,
    finite_number,
    public,
    scrub,
    uploaded_path,
)
from components.model_picker import EMBEDDED_HELP
from components.queues import ARENA, EXPORT
from components.settings import parse_spec
from components.workbench import gguf_store, session_or_error
from luq.deploy import engine_prompt
from luq.embedded.model import vocabulary
from luq.evaluation import answer_batch
from luq.images import load_image
from luq.memlimit import held_line
from luq.memory import resident_weight_bytes
from luq.models.prompting import unknown_words
from luq.models.registry import ASSETS

MAX_QUESTION = 200
LLAMACPP_TITLE = "### LUQ in llama.cpp (GGUF)"
ENGINE_OFF = "### LUQ in llama.cpp\n_off: tick the box to run the plan's GGUF_"
EXAMPLES = sorted((ASSETS / "examples").glob("*.png"))
KNOWN_WORDS = frozenset(vocabulary())  # the embedded model's closed vocabulary
VOCABULARY = ("**Words the embedded model knows** (any other word is unknown to it, and its "
              "answer to such a question is a guess): "
              + ", ".join(w for w in vocabulary() if w.isalpha()))


class UploadedImage(gr.Image):
    """``gr.Image`` that hands a file it cannot decode to the handler as a path, so the
    handler's reader gives the user a clear message instead of a generic server error."""

    is_template = True  # rendered by the frontend's Image component

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except Exception:  # noqa: BLE001 - any decoding failure is reported by load_image
            return getattr(payload, "path", None)


def _picture(image):
    """The uploaded (or example) image, read; only Gradio's uploads and the examples."""
    if image is None:
        raise gr.Error("Upload an image or pick an example first.")
    path = uploaded_path(image, ASSETS / "examples")
    if path is None:
        raise gr.Error("Could not read the image: upload it (or pick an example).")
    try:
        return load_image(path)
    except ValueError as err:
        raise gr.Error(f"Could not read the image: {err}") from None


def _luq_plan(session, budget_mb, low, high, order):
    budget = finite_number(budget_mb, "The budget (MB)", 0, 1e7)
    try:
        return select(session, int(budget * 1e6), high, low, parse_order(order)).plan
    except (TypeError, ValueError) as err:
        raise gr.Error(str(err)) from None


def _card(title: str, answer: str, ms: float, mb: float, resident_mb: float) -> str:
    return (f"### {title}\n## {answer or '(no answer)'}\n{ms:.0f} ms · {mb:.2f} MB of weights"
            f"\n\n{resident_mb:.2f} MB resident")


def word_notice(model: str, question: str) -> str:
    """A warning naming the question's words the model does not know ('' if none)."""
    session = session_or_error(model)
    known = KNOWN_WORDS if session.name == "embedded" else None
    unknown = unknown_words(session.loaded.processor, (question or "").strip().lower(), known)
    if not unknown:
        return ""
    return (f"⚠️ **{session.name} does not know the word"
            f"{'s' if len(unknown) > 1 else ''} {', '.join(repr(w) for w in unknown)}**: it "
            "reads them as 'unknown', so the answers below are guesses, not understanding.")


def _question(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise gr.Error("Type a question.")
    if len(question) > MAX_QUESTION:
        raise gr.Error(f"The question has {len(question)} characters; keep it under "
                       f"{MAX_QUESTION}.")
    return question


@public("Answering")
def answer_three(model: str, image, question: str, budget_mb: float, low_choice: str,
                 high_choice: str, order: str, engine: bool = True):
    """Answers with full precision, uniform high bits and the LUQ plan of the budget (in
    PyTorch); with ``engine``, also the LUQ plan's GGUF in llama.cpp if it is exported
    already (else the card says it is being exported: :func:`answer_llamacpp` fills it)."""
    picture = _picture(image)
    question = _question(question)
    session = session_or_error(model)
    low, high = parse_spec(low_choice), parse_spec(high_choice)
    luq = _luq_plan(session, budget_mb, low, high, order)
    plans = [("Full precision", None), (f"Uniform {high.label}", session.uniform(high)),
             (f"LUQ ({luq.count(low)} layers {low.label})", luq)]

    def ask(loaded):
        start = time.perf_counter()
        text = answer_batch(loaded.model, loaded.processor, [picture], [question])[0]
        return text, (time.perf_counter() - start) * 1e3, resident_weight_bytes(loaded.model)

    cards = []
    for title, plan in plans:
        text, ms, resident = session.run(plan, ask)
        cards.append(_card(title, text, ms, session.memory(plan).total_bytes / 1e6,
                           resident / 1e6))
    if not engine:
        cards.append(ENGINE_OFF)
    elif gguf_store(session).ready(luq) is None:
        cards.append(f"{LLAMACPP_TITLE}\n_exporting this plan's GGUF in its own queue (the "
                     "first time a plan is asked, a few seconds); this card fills in when it "
                     "is ready_")
    else:
        cards.append(_llamacpp_card(session, luq, picture, question))
    notice = word_notice(model, question)
    rss = f"{held_line()} Every model variant built so far is cached."
    return (f"{notice}\n\n{rss}" if notice else rss, *cards)


@public("The llama.cpp answer")
def answer_llamacpp(model: str, image, question: str, budget_mb: float, low_choice: str,
                    high_choice: str, order: str, engine: bool = True,
                    progress=gr.Progress()) -> str:
    """The LUQ plan's GGUF answering in llama.cpp (exported first if need be, in the export
    queue, within its time limit)."""
    if not engine:
        return ENGINE_OFF
    picture = _picture(image)
    question = _question(question)
    session = session_or_error(model)
    luq = _luq_plan(session, budget_mb, parse_spec(low_choice), parse_spec(high_choice), order)
    deadline = Deadline("The GGUF export", TIME_LIMITS_S["export"], progress)
    return _llamacpp_card(session, luq, picture, question, deadline)


def _llamacpp_card(session, plan, picture, question: str, progress=None) -> str:
    """The LUQ plan's GGUF answering in llama.cpp: answer, latency, file size, load RSS."""
    title = LLAMACPP_TITLE
    store = gguf_store(session)
    try:
        export = store.export(plan, progress)
        if export.mmproj is None:
            return f"{title}\n_no vision projector GGUF for {session.name}: " + \
                "; ".join(export.notes) + "_"
        engine = store.engine(plan)
        start = time.perf_counter()
        reply = engine.answer(engine_prompt(session.loaded.processor, question), picture, 16)
        ms = (time.perf_counter() - start) * 1e3
    except TimeLimit:
        raise
    except Exception as err:  # noqa: BLE001 - an optional column: say why, keep the others
        return f"{title}\n_could not run: {scrub(str(err))}_"
    types = sorted(set(export.stored_block_types().values()))
    return (f"{title}\n## {reply.text.strip() or '(no answer)'}\n{ms:.0f} ms · "
            f"{engine.file_bytes / 1e6:.2f} MB of GGUF files ({export.model_bytes / 1e6:.2f} "
            f"model + {export.mmproj_bytes / 1e6:.2f} mmproj)\n\nblocks {', '.join(types)}; "
            f"llama.cpp added {max(0, engine.rss_load_delta) / 1e6:.1f} MB RSS on load\n\n"
            + _agreement(session, plan, picture, question, reply.text))


def _agreement(session, plan, picture, question: str, engine_text: str) -> str:
    """Whether the GGUF answers as the LUQ card (PyTorch, same plan) does, and if not why."""
    torch_text = session.run(plan, lambda m: answer_batch(m.model, m.processor, [picture],
                                                          [question])[0])
    if " ".join(torch_text.split()).lower() == " ".join(engine_text.split()).lower():
        return "_Same answer as the LUQ card (PyTorch, same plan)._"
    research = sorted({a.spec.label for a in plan.layers
                       if a.spec.method not in ("ggml", "fp16")})
    why = (f"its {', '.join(research)} blocks are stored as the GGUF types above (no exact "
           "llama.cpp type)" if research else
           "same weights, but llama.cpp quantizes activations to 8 bits inside its matrix "
           "products where PyTorch multiplies in float")
    return f"_The LUQ card answers \"{torch_text.strip()}\": {why}._"


def build_arena_panel(model: gr.State, budget, low, high, order) -> None:
    """Lays out the VQA arena; reads the Budget tab's settings."""
    gr.Markdown(EMBEDDED_HELP + "\n\nThe LUQ model uses the plan of the Budget tab's slider.")
    with gr.Accordion("Vocabulary of the embedded model", open=False):
        gr.Markdown(VOCABULARY)
    with gr.Row():
        with gr.Column(scale=1):
            image = UploadedImage(type="filepath", label="Image", height=256,
                                  sources=["upload", "clipboard"])
            question = gr.Textbox(label="Question", value="what color is the circle ?",
                                  max_lines=2)
            notice = gr.Markdown(elem_classes="word-notice")
            engine = ui.Checkbox(True, label="Also run the LUQ plan as GGUF in llama.cpp "
                                 "(exported the first time a plan is asked)")
            ask = gr.Button("Ask", variant="primary")
            if EXAMPLES:
                gr.Examples([[str(p), q] for p, q in _example_questions()], [image, question])
        with gr.Column(scale=2), gr.Row():
            cards = [gr.Markdown(f"### {t}\n_ask a question_", elem_classes="answer-card")
                     for t in ("Full precision", "Uniform 4-bit", "LUQ",
                               "LUQ in llama.cpp (GGUF)")]
    inputs = [model, image, question, budget, low, high, order, engine]
    # PyTorch answers first (arena queue); the llama.cpp card then in the export queue
    ask.click(answer_three, inputs, [notice, *cards], api_name="answer", **ARENA).then(
        answer_llamacpp, inputs, cards[3], api_name="answer_llamacpp", **EXPORT)
    question.submit(answer_three, inputs, [notice, *cards], api_visibility="private",
                    **ARENA).then(answer_llamacpp, inputs, cards[3],
                                        api_visibility="private", **EXPORT)
    question.input(public("Checking the words")(word_notice), [model, question], notice,
                   api_visibility="private", trigger_mode="always_last")


def _example_questions() -> list[tuple[Path, str]]:
    questions = {}
    notes = ASSETS / "examples" / "questions.txt"
    if notes.exists():
        for line in notes.read_text().splitlines():
            name, _, q = line.partition("\t")
            questions[name] = q
    return [(p, questions.get(p.name, "how many objects are there ?")) for p in EXAMPLES]
