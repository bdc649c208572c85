from luq.embedded import ANSWERS, QUESTION_TYPES, load_split, text_prompts
from luq.embedded.shapes import SPLITS, generate


def test_deterministic_by_seed():
    a, b = generate(7, 20), generate(7, 20)
    assert [(r["question"], r["answer"]) for r in a] == [(r["question"], r["answer"]) for r in b]
    assert all(x["image"].tobytes() == y["image"].tobytes() for x, y in zip(a, b))
    assert [r["question"] for r in generate(8, 20)] != [r["question"] for r in a]


def test_splits_are_fixed_and_disjoint():
    test = load_split("test", 200)
    calib = load_split("calibration", 200)
    assert set(test.column_names) == {"image", "question", "answer", "question_type"}
    pixels = {r["image"].tobytes() + r["question"].encode() for r in test}
    assert not pixels & {r["image"].tobytes() + r["question"].encode() for r in calib}
    assert len({seed for seed, _ in SPLITS.values()}) == len(SPLITS)


def test_answers_are_one_known_word_and_types_balanced():
    rows = load_split("test", 200)
    assert all(len(a.split()) == 1 and a in ANSWERS for a in rows["answer"])
    assert {t: rows["question_type"].count(t) for t in QUESTION_TYPES} == {
        t: 40 for t in QUESTION_TYPES}


def test_questions_are_unambiguous():
    for row in generate(11, 300):
        scene = row["scene"]
        assert len({o.color for o in scene}) == len(scene)
        assert len({o.shape for o in scene}) == len(scene)
        assert len({o.position for o in scene}) == len(scene)
        if row["question_type"] == "count":
            assert row["answer"] == ("one", "two", "three")[len(scene) - 1]


def test_text_prompts_have_no_images():
    prompts = text_prompts()
    assert len(prompts) > 20 and all("<image>" not in p for p in prompts)
