"""Small offline copies of each benchmark, in its hub schema (reusable by CLI and app tests).

Each ``build_*_fixture(directory)`` writes ``directory/<name>`` as a ``save_to_disk``
DatasetDict holding the task's split and returns that folder; pass it as ``data`` to
``luq.tasks.load_docs`` (or ``--data`` on the command line). GQA's folder holds one
sub-folder per config (questions, images). The rows are the ones the hand-worked scoring
tests use, so their answers are fixed here.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset, DatasetDict, Features, Image, List, Value
from PIL import Image as PILImage

S = Value("string")


def image(i: int, size: int = 32) -> PILImage.Image:
    """A small solid-colour image, distinct per ``i``."""
    return PILImage.new("RGB", (size, size), ((60 * i) % 256, (100 + 40 * i) % 256, 200))


def save(directory: Path | str, name: str, split: str, rows: list[dict],
         features: Features) -> Path:
    """``rows`` as ``directory/name``, a save_to_disk DatasetDict with one split."""
    path = Path(directory) / name
    DatasetDict({split: Dataset.from_list(rows, features=features)}).save_to_disk(str(path))
    return path


def save_snapshot(directory: Path | str, name: str,
                  configs: dict[str, tuple[str, Dataset]]) -> Path:
    """A hub-snapshot-shaped folder (what ``hf download --local-dir`` gives): parquet shards
    under ``<config>/<split>-00000-of-00001.parquet`` and a README listing the configs."""
    path = Path(directory) / name
    card = ["---", "configs:"]
    for config, (split, dataset) in configs.items():
        (path / config).mkdir(parents=True, exist_ok=True)
        dataset.to_parquet(str(path / config / f"{split}-00000-of-00001.parquet"))
        card += [f"- config_name: {config}", "  data_files:", f"  - split: {split}",
                 f"    path: {config}/{split}-*"]
    (path / "README.md").write_text("\n".join(card + ["---", ""]))
    return path


MME_FEATURES = Features({"question_id": S, "image": Image(), "question": S, "answer": S,
                         "category": S})
MME_ROWS = [  # (image path, question, answer, category): two questions per image
    ("existence/000.png", "Is there a dog in this image?", "Yes", "existence"),
    ("existence/000.png", "Is there a cat in this image?", "No", "existence"),
    ("existence/001.png", "Is there a car in this image?", "Yes", "existence"),
    ("existence/001.png", "Is there a bus in this image?", "No", "existence"),
    ("OCR/010.jpg", "Is the word in the logo \"luq\"?", "Yes", "OCR"),
    ("OCR/010.jpg", "Is the word in the logo \"quantize\"?", "No", "OCR"),
    ("code_reasoning/0020.png", "Is the output of the code 3?", "Yes", "code_reasoning"),
    ("code_reasoning/0020.png", "Is the output of the code 4?", "No", "code_reasoning"),
]


def build_mme_fixture(directory: Path | str) -> Path:
    """MME (lmms-lab/MME, test): 4 images x 2 questions, 3 categories."""
    images = {path: image(i) for i, path in enumerate(dict.fromkeys(r[0] for r in MME_ROWS))}
    rows = [{"question_id": p, "image": images[p], "question": f"{q} Please answer yes or no.",
             "answer": a, "category": c} for p, q, a, c in MME_ROWS]
    return save(directory, "mme", "test", rows, MME_FEATURES)


TEXTVQA_FEATURES = Features({
    "image_id": S, "question_id": Value("int32"), "question": S, "question_tokens": List(S),
    "image": Image(), "image_width": Value("int32"), "image_height": Value("int32"),
    "flickr_original_url": S, "flickr_300k_url": S, "answers": List(S),
    "image_classes": List(S), "set_name": S, "ocr_tokens": List(S)})
TEXTVQA_ROWS = [  # (question, 10 answers)
    ("what brand is the drink?", ["coca cola"] * 3 + ["coke"] * 7),
    ("what brand is this phone?", ["nokia"] * 10),
    ("how many stickers are on the laptop?", ["two"] * 2 + ["3"] * 8),
]


def build_textvqa_fixture(directory: Path | str) -> Path:
    """TextVQA (lmms-lab/textvqa, validation): 3 questions, 10 answers each."""
    rows = [{"image_id": f"img{i}", "question_id": 34602 + i, "question": q,
             "question_tokens": q.rstrip("?").split(), "image": image(i), "image_width": 32,
             "image_height": 32, "flickr_original_url": "", "flickr_300k_url": "",
             "answers": answers, "image_classes": ["Poster"], "set_name": "val",
             "ocr_tokens": ["luq"]} for i, (q, answers) in enumerate(TEXTVQA_ROWS)]
    return save(directory, "textvqa", "validation", rows, TEXTVQA_FEATURES)


VQAV2_FEATURES = Features({
    "question_type": S, "multiple_choice_answer": S,
    "answers": List({"answer": S, "answer_confidence": S, "answer_id": Value("int64")}),
    "image_id": Value("int64"), "answer_type": S, "question_id": Value("int64"),
    "question": S, "image": Image()})
VQAV2_ROWS = [  # (question, answer type, 10 answers)
    ("Is the man smiling?", "yes/no", ["yes"] * 10),
    ("How many dogs are there?", "number", ["2"] * 3 + ["3"] * 7),
    ("What color is the bus?", "other", ["red"] + ["blue"] * 9),
]


def build_vqav2_fixture(directory: Path | str) -> Path:
    """VQAv2 (lmms-lab/VQAv2, validation): 3 questions, one per answer type."""
    rows = [{"question_type": q.split()[0].lower(), "multiple_choice_answer": answers[-1],
             "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                         for j, a in enumerate(answers)],
             "image_id": 100 + i, "answer_type": t, "question_id": 1000 + i, "question": q,
             "image": image(i)} for i, (q, t, answers) in enumerate(VQAV2_ROWS)]
    return save(directory, "vqav2", "validation", rows, VQAV2_FEATURES)


POPE_FEATURES = Features({"id": S, "question_id": S, "question": S, "answer": S,
                          "image_source": S, "image": Image(), "category": S})
POPE_ROWS = [("dog", "yes", "adversarial"), ("cat", "yes", "adversarial"),
             ("car", "yes", "popular"), ("bus", "no", "popular"), ("cup", "no", "random"),
             ("kite", "no", "random")]


def pope_rows() -> list[dict]:
    """POPE rows (hub schema) for the objects of ``POPE_ROWS``."""
    return [{"id": str(i), "question_id": str(i + 1), "answer": a, "category": c,
             "question": f"Is there a {obj} in the image?", "image_source": f"COCO_{i:012d}",
             "image": image(i)} for i, (obj, a, c) in enumerate(POPE_ROWS)]


def build_pope_fixture(directory: Path | str) -> Path:
    """POPE (lmms-lab/POPE, test): 6 questions over the 3 categories."""
    return save(directory, "pope", "test", pope_rows(), POPE_FEATURES)


GQA_FEATURES = Features({"id": S, "imageId": S, "question": S, "answer": S, "fullAnswer": S,
                         "isBalanced": Value("bool"), "semanticStr": S})
GQA_IMAGE_FEATURES = Features({"id": S, "image": Image()})
GQA_ROWS = [("n161313", "Is it overcast?", "yes"), ("n161313", "Which side is the cup on?", "left"),
            ("n235859", "What is the man wearing?", "t-shirt"),
            ("n235859", "Which side is the bag on?", "left")]


def gqa_datasets() -> dict[str, tuple[str, Dataset]]:
    """GQA's two configs: questions (joined to images by imageId) and images."""
    questions = [{"id": f"20{i}", "imageId": img, "question": q, "answer": a,
                  "fullAnswer": f"The answer is {a}.", "isBalanced": True, "semanticStr": ""}
                 for i, (img, q, a) in enumerate(GQA_ROWS)]
    images = [{"id": img, "image": image(i)} for i, img in enumerate(("n161313", "n235859"))]
    return {"testdev_balanced_instructions": ("testdev",
                                              Dataset.from_list(questions, features=GQA_FEATURES)),
            "testdev_balanced_images": ("testdev",
                                        Dataset.from_list(images, features=GQA_IMAGE_FEATURES))}


def build_gqa_fixture(directory: Path | str) -> Path:
    """GQA (lmms-lab/GQA): ``gqa/<config>/`` save_to_disk folders, 4 questions on 2 images."""
    path = Path(directory) / "gqa"
    for config, (split, dataset) in gqa_datasets().items():
        DatasetDict({split: dataset}).save_to_disk(str(path / config))
    return path


SCIENCEQA_FEATURES = Features({
    "image": Image(), "question": S, "choices": List(S), "answer": Value("int8"), "hint": S,
    "task": S, "grade": S, "subject": S, "topic": S, "category": S, "skill": S, "lecture": S,
    "solution": S})
SCIENCEQA_ROWS = [  # (question, choices, answer index, hint)
    ("Which animal's feet are also adapted for swimming?", ["cat", "duck"], 1, ""),
    ("Which is the main persuasive appeal?", ["ethos", "pathos", "logos"], 0, "An ad."),
    ("What is the capital of Utah?", ["Salt Lake City", "Provo", "Ogden"], 0, ""),
    ("Which material is this spoon made of?", ["wood", "metal"], 0, ""),
]


def build_scienceqa_fixture(directory: Path | str) -> Path:
    """ScienceQA-IMG (lmms-lab/ScienceQA, ScienceQA-IMG/test): 4 questions."""
    rows = [{"image": image(i), "question": q, "choices": c, "answer": a, "hint": h,
             "task": "closed choice", "grade": "grade4", "subject": "natural science",
             "topic": "biology", "category": "Adaptations", "skill": "", "lecture": "",
             "solution": ""} for i, (q, c, a, h) in enumerate(SCIENCEQA_ROWS)]
    return save(directory, "scienceqa", "test", rows, SCIENCEQA_FEATURES)


CHARTQA_FEATURES = Features({"type": S, "question": S, "answer": S, "image": Image()})
CHARTQA_ROWS = [("What is the value of 2019?", "40", "human_test"),
                ("What share voted yes?", "45%", "human_test"),
                ("Is the line rising?", "Yes", "augmented_test"),
                ("What is the lowest value?", "0", "augmented_test"),
                ("What is the value of 2020?", "40", "augmented_test")]


def build_chartqa_fixture(directory: Path | str) -> Path:
    """ChartQA (lmms-lab/ChartQA, test): 5 questions, both splits."""
    rows = [{"type": t, "question": q, "answer": a, "image": image(i)}
            for i, (q, a, t) in enumerate(CHARTQA_ROWS)]
    return save(directory, "chartqa", "test", rows, CHARTQA_FEATURES)


DOCVQA_FEATURES = Features({
    "questionId": S, "question": S, "question_types": List(S), "image": Image(),
    "docId": Value("int64"), "ucsf_document_id": S, "ucsf_document_page_no": S,
    "answers": List(S), "data_split": S})
DOCVQA_ROWS = [("What word is printed?", ["hello"]), ("What is written?", ["hello", "help me"]),
               ("What is the date?", ["1/2/2019"])]


def build_docvqa_fixture(directory: Path | str) -> Path:
    """DocVQA (lmms-lab/DocVQA, DocVQA/validation): 3 questions."""
    rows = [{"questionId": str(49153 + i), "question": q, "question_types": ["form"],
             "image": image(i), "docId": 14465 + i, "ucsf_document_id": "txpp0227",
             "ucsf_document_page_no": "10", "answers": a, "data_split": "val"}
            for i, (q, a) in enumerate(DOCVQA_ROWS)]
    return save(directory, "docvqa", "validation", rows, DOCVQA_FEATURES)


MMBENCH_FEATURES = Features({
    "index": Value("int64"), "question": S, "hint": S, "A": S, "B": S, "C": S, "D": S,
    "answer": S, "category": S, "image": Image(), "source": S, "L2-category": S,
    "comment": S, "split": S})
MMBENCH_QUESTIONS = [  # (index, question, options in their original order, right option)
    (5, "What animal is shown?", ["cat", "dog", "horse", "cow"], "dog"),
    (9, "Is the sky visible?", ["yes", "no"], "yes"),
]


def mmbench_rows() -> list[dict]:
    """Every circular rotation of ``MMBENCH_QUESTIONS`` (index + k * 1e6), in hub order."""
    rows = []
    for q, (index, question, options, right) in enumerate(MMBENCH_QUESTIONS):
        for k in range(len(options)):
            rotated = options[k:] + options[:k]
            letters = dict(zip("ABCD", rotated + [None] * (4 - len(rotated))))
            rows.append({"index": index + k * 1_000_000, "question": question,
                         "hint": None if q else "A photo.", **letters,
                         "answer": "ABCD"[rotated.index(right)], "category": "attribute",
                         "image": image(q), "source": "fixture", "L2-category": "perception",
                         "comment": None, "split": "dev"})
    return rows


def build_mmbench_fixture(directory: Path | str) -> Path:
    """MMBench (lmms-lab/MMBench, en/dev): 2 questions, 4 + 2 circular rotations."""
    return save(directory, "mmbench", "dev", mmbench_rows(), MMBENCH_FEATURES)
