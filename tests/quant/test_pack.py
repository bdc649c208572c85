import pytest
import torch

from luq.quant.pack import pack, packed_nbytes, unpack


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (13, 17), (64, 128), (2, 3, 11)])
def test_round_trip_is_exact(bits, shape):
    g = torch.Generator().manual_seed(bits * 100 + len(shape))
    codes = torch.randint(0, 2**bits, shape, generator=g)
    packed = pack(codes, bits)
    assert packed.dtype == torch.uint8
    assert packed.numel() == packed_nbytes(codes.numel(), bits)
    assert torch.equal(unpack(packed, bits, shape), codes)


def test_extremes_and_known_layout():
    assert pack(torch.tensor([1, 0, 3]), 2).tolist() == [1 + 0 + 48]
    codes = torch.full((9,), 7)
    assert torch.equal(unpack(pack(codes, 3), 3, (9,)), codes)
    assert packed_nbytes(9, 3) == 4


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="lie in"):
        pack(torch.tensor([4]), 2)
    with pytest.raises(ValueError, match="supported widths"):
        pack(torch.tensor([0]), 9)
    with pytest.raises(ValueError, match="cannot hold"):
        unpack(torch.zeros(3, dtype=torch.uint8), 4, (8,))
