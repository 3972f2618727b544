"""MMEngine checkpoints load under torch's safe loading once padseg is
imported, and nothing beyond them is allowed."""
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer

import padseg  # noqa: F401


def test_message_hub_state_round_trips_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('checkpoint_test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', np.float64(0.25))
    hub.update_info('iter', 7)
    state = dict(message_hub=hub.state_dict(),
                 meta=dict(iter=7, seed=np.int64(3),
                           dataset_meta=dict(classes=('a', 'b'))),
                 state_dict={'w': torch.ones(2)},
                 buffer_methods=dict(HistoryBuffer._statistics_methods))
    path = tmp_path / 'ckpt.pth'
    torch.save(state, path)
    loaded = torch.load(path)  # weights_only=True is torch's default
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.current() == 0.25
    assert loaded['meta']['seed'] == 3
    assert loaded['buffer_methods']['mean'] is HistoryBuffer.mean


class _Getattr:
    """Pickles as ``getattr(owner, name)``."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@pytest.mark.parametrize('owner,name', [(np.ndarray, 'tofile'),
                                        (HistoryBuffer, 'update'),
                                        (HistoryBuffer, '__init__')])
def test_getattr_stays_forbidden_for_anything_else(owner, name):
    buf = io.BytesIO()
    torch.save({'x': _Getattr(owner, name)}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match=name):
        torch.load(buf)
