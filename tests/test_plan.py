import pytest

from luq.plan import BitPlan
from luq.quant import QuantSpec

NAMES = [f"model.language_model.layers.{i}" for i in range(4)]
HIGH, LOW = QuantSpec("rtn", 4, 32), QuantSpec("billm", 1, 32)


def test_json_round_trip(tmp_path):
    plan = BitPlan.mixed(NAMES, HIGH, LOW, NAMES[1:3], order="entropy", model="m")
    plan = plan.with_summary(1234, 2.5)
    assert BitPlan.from_json(plan.to_json()) == plan
    plan.save(tmp_path / "p.json")
    assert BitPlan.load(tmp_path / "p.json") == plan
    assert plan.count(LOW) == 2
    assert plan.spec_of(NAMES[1]) == LOW


def test_validation_messages():
    with pytest.raises(ValueError, match="more than once"):
        BitPlan.uniform(NAMES + NAMES[:1], HIGH)
    with pytest.raises(ValueError, match="not valid JSON"):
        BitPlan.from_json("{")
    with pytest.raises(ValueError, match="'layers' list"):
        BitPlan.from_json("{}")
    with pytest.raises(ValueError, match="unknown keys"):
        BitPlan.from_json('{"layers": [{"name": "a", "method": "rtn", "bitz": 3}]}')
    with pytest.raises(ValueError, match="supported"):
        BitPlan.from_json('{"layers": [{"name": "a", "method": "rtn", "bits": 12}]}')
    with pytest.raises(ValueError, match="not decoder blocks"):
        BitPlan.mixed(NAMES, HIGH, LOW, ["x"])


def test_check_layers_names_the_difference():
    plan = BitPlan.uniform(NAMES[:3], HIGH)
    with pytest.raises(ValueError, match="missing"):
        plan.check_layers(NAMES)
