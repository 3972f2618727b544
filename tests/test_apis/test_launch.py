"""padseg.apis.launch: the end of a distributed run."""
import torch.distributed as dist

from padseg.apis import close_distributed


def test_close_distributed_is_a_no_op_without_a_group():
    assert not dist.is_initialized()
    assert close_distributed() is False


def test_close_distributed_waits_and_destroys_the_group(tmp_path):
    dist.init_process_group(
        backend='gloo', init_method=f'file://{tmp_path / "rendezvous"}',
        rank=0, world_size=1)
    try:
        assert close_distributed() is True
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
