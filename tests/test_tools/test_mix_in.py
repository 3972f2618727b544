"""A stock mmseg DeepLabV3+ config plus padseg's two lines trains and tests
through padseg's tools and through mmseg's own stock tools: a PAD backbone,
the dcn= slot, and the stock backbone as it is wrapped in PADBackbone with
the default placement."""
import os.path as osp

import mmseg
import pytest

from digits_scenes import make_digits_voc
from helpers.tools import read_metrics, run_tool, short_schedule, tiny_voc_data, \
    write_config
from padseg.engine.checkpoint import load_local_checkpoint

MIM = osp.join(osp.dirname(mmseg.__file__), '.mim')
STOCK_CONFIG = osp.join(
    MIM, 'configs/deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py')
STOCK_TOOLS = osp.join(MIM, 'tools')
PADSEG_TOOLS = 'tools'

def _stock_backbone() -> str:
    from mmengine.config import Config
    return repr(Config.fromfile(STOCK_CONFIG).model.backbone.to_dict())


# (a) a PAD backbone; (b) the stock backbone's dcn= slot; (c) the backbone
# as it was, wrapped (PAD placed by default: layer4's 3x3s)
WAYS = {
    'pad_backbone': '''
custom_imports = dict(imports=['padseg'], allow_failed_imports=False)
model = dict(backbone=dict(type='PADResNetV1c'))
''',
    'dcn_slot': '''
custom_imports = dict(imports=['padseg'], allow_failed_imports=False)
model = dict(backbone=dict(
    dcn=dict(type='PAD', dilations=(1, 2, 4), fallback_on_stride=False),
    stage_with_dcn=(False, False, False, True)))
''',
    'any_backbone': f'''
custom_imports = dict(imports=['padseg'], allow_failed_imports=False)
model = dict(backbone=dict(_delete_=True, type='PADBackbone',
                           backbone={_stock_backbone()}))
''',
}

# Not part of the user's two lines: tiny data, no ImageNet download.
TEST_ONLY = '''
model = dict(pretrained=None)
'''


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('mixin_voc')
    make_digits_voc(str(root), num_train=4, num_val=2, image_size=(64, 64),
                    seed=2)
    return str(root / 'VOC2012')


@pytest.mark.parametrize('tools', [PADSEG_TOOLS, STOCK_TOOLS])
@pytest.mark.parametrize('way', list(WAYS))
def test_stock_config_with_padseg_lines(tmp_path, voc_root, tools, way):
    user = write_config(str(tmp_path / 'user.py'), STOCK_CONFIG, WAYS[way])
    tiny = write_config(
        str(tmp_path / 'tiny.py'), user,
        tiny_voc_data(voc_root, dataset_type='PascalVOCDataset') +
        short_schedule(2, 2))
    cfg = write_config(str(tmp_path / 'cfg.py'), tiny, TEST_ONLY)
    work = str(tmp_path / 'work')
    run_tool([osp.join(tools, 'train.py'), cfg, '--work-dir', work])
    state = load_local_checkpoint(osp.join(work, 'iter_2.pth'))['state_dict']
    pad_keys = [k for k in state if k.endswith('.aggregation.u_h')]
    # PAD in layer4's three 3x3 convs (a: the stride-1 ones at OS8: all three)
    assert sorted(pad_keys) == [
        f'backbone.layer4.{i}.conv2.aggregation.u_h' for i in range(3)
    ]
    run_tool([osp.join(tools, 'test.py'), cfg, osp.join(work, 'iter_2.pth'),
              '--work-dir', str(tmp_path / 'test')])
    assert 0 <= read_metrics(str(tmp_path / 'test'))['mIoU'] <= 100
