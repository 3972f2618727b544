"""The Triton kernels' tile lists (``padseg/ops/triton_kernels.py``); the
kernels themselves are checked through their calls in test_triton_pad.py
and, on a GPU, by benchmarks/gpu_check.py."""
import pytest

from padseg.ops import triton_kernels


@pytest.mark.parametrize('kernel', ['forward', 'input', 'prob', 'weight'])
def test_tiles_are_legal_on_a_gpu_and_fit_hopper(kernel, monkeypatch):
    """``tl.dot`` needs at least 16 on each axis and ``tl.arange`` powers of
    2; Hopper's warp-group products want 4 or 8 warps and tiles of 64 rows
    or more; the GPU list is short (each entry is compiled and timed)."""
    monkeypatch.setenv('TRITON_INTERPRET', '0')
    configs = triton_kernels.tile_configs(kernel)
    assert len(configs) in (2, 3, 4)
    for config in configs:
        blocks = [config.kwargs[k] for k in ('BLOCK_M', 'BLOCK_N', 'BLOCK_K')]
        assert all(b >= 16 and b & (b - 1) == 0 for b in blocks), config
        assert min(blocks[:2]) >= 64 and config.num_warps in (4, 8), config
    monkeypatch.setenv('TRITON_INTERPRET', '1')
    assert len(triton_kernels.tile_configs(kernel)) == 1
