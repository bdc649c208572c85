import pytest

from luq.quant import QuantSpec, get_method, method_names


def test_unknown_method_lists_known():
    with pytest.raises(ValueError, match="known: awq, billm, fp16, ggml, gptq, rtn"):
        get_method("nf4")
    with pytest.raises(ValueError, match="unknown quantization method"):
        QuantSpec("nf4", 4)


def test_capabilities_are_declared():
    assert get_method("gptq").requires_calibration and get_method("awq").requires_calibration
    assert not get_method("rtn").requires_calibration
    assert get_method("billm").supported_bits == (1,)
    assert set(range(1, 9)) <= set(get_method("rtn").supported_bits)
    assert set(method_names()) == {"awq", "billm", "fp16", "ggml", "gptq", "rtn"}
    assert get_method("ggml").uses_calibration and not get_method("ggml").requires_calibration


def test_spec_validation():
    with pytest.raises(ValueError, match="supported: 1$"):
        QuantSpec("billm", 2)
    with pytest.raises(ValueError, match="group_size"):
        QuantSpec("rtn", 4, -1)
    assert QuantSpec("rtn", 4, 0).label == "rtn-4b-pc"
    assert QuantSpec("billm", 1, 0, split=False).label == "billm-1b-pc"
    assert QuantSpec("billm", 1, 32).label == "billm-1b-g32-split"  # split is the default
    assert hash(QuantSpec("rtn", 4, 32)) == hash(QuantSpec("rtn", 4, 32))
