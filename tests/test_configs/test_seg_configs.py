"""Every segmentation config under configs/ loads with MMEngine, builds its
model under the mmseg scope and predicts ``num_classes`` score maps of the
input's size; PAD configs place PAD where their name says and anneal tau;
every paper config names the table and number it reproduces and is listed in
docs/model_zoo.md."""
import importlib
import re
from pathlib import Path

import pytest
import torch
from mmengine import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import HOOKS, DefaultScope
from mmengine.structures import PixelData

import mmseg.models  # noqa: F401  (EncoderDecoder, DepthwiseSeparableASPPHead)
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from padseg.ops import pad_layers

# padseg's backbones and heads register on import.
for _module in ('backbones.vgg', 'backbones.resnet', 'backbones.drn',
                'backbones.xception', 'backbones.mobilenet_v2',
                'decode_heads.fcn_vgg_head'):
    importlib.import_module(f'padseg.models.{_module}')

ROOT = Path(__file__).resolve().parents[2]
CONFIG_ROOT = ROOT / 'configs'
#: Every segmentation experiment: all configs but the bases and the
#: (mmpretrain) classification configs.
CONFIGS = sorted(
    path.relative_to(CONFIG_ROOT).as_posix()
    for path in CONFIG_ROOT.rglob('*.py')
    if not {'_base_', 'classification'} & set(path.parts))
#: The generated data sets (digits, shapes, rings, nested) have no paper
#: number.
PAPER_CONFIGS = [
    c for c in CONFIGS
    if not c.startswith(('digits/', 'shapes/', 'rings/', 'nested/'))
]
#: The dataset field of the file name decides the expected classes, so a
#: config that forgets to set ``num_classes`` fails.
NUM_CLASSES = {
    'voc12aug': 21, 'cityscapes': 19, 'digits': 11, 'shapes': 4, 'rings': 4,
    'nested': 4
}
#: PAD layers of each PAD backbone (file-name token) with its default
#: placement (paper, Table 8): names and number.
PAD_PLACES = {
    'vgg16': (r'backbone\.conv5_\d\.conv', 3),
    'r101-d16': (r'backbone\.layer4\.\d\.conv2', 3),
    'r18w16-os8': (r'backbone\.layer4\.\d\.conv[12]', 4),
    'r18w16-layer1': (r'backbone\.layer1\.\d\.conv[12]', 4),
    'xception65-d16':
    (r'backbone\.blocks\.([3-9]|1\d|20)\.stack\.conv\d\.conv_dw', 54),
    'drn-d-54-d16': (r'backbone\.layer[78]\.0', 2),
    'm-v2-d16': (r'backbone\.layer[67]\.\d\.conv\.1\.conv', 4),
}
INPUT_SIZE = 32


def dataset_of(config: str) -> str:
    match = re.search(
        r'_(voc12aug|cityscapes|digits|shapes|rings|nested)-\d+x\d+\.py$',
        config)
    assert match, f'{config}: file name must end in _<dataset>-<H>x<W>.py'
    return match[1]


def pop_checkpoints(cfg) -> list:
    """Remove every ``pretrained`` and ``Pretrained`` init_cfg from ``cfg``
    (nothing may be downloaded here) and return the checkpoints removed."""
    removed = []
    if isinstance(cfg, dict):
        if cfg.get('pretrained'):
            removed.append(cfg.pop('pretrained'))
        init_cfg = cfg.get('init_cfg')
        inits = init_cfg if isinstance(init_cfg, list) else [init_cfg]
        if any(isinstance(i, dict) and i.get('type') == 'Pretrained'
               for i in inits):
            removed += [i['checkpoint'] for i in inits
                        if i.get('type') == 'Pretrained']
            cfg.pop('init_cfg')
        for value in cfg.values():
            removed += pop_checkpoints(value)
    elif isinstance(cfg, list):
        for value in cfg:
            removed += pop_checkpoints(value)
    return removed


def test_configs_found():
    assert len(PAPER_CONFIGS) == 26
    assert {c.split('/')[0] for c in CONFIGS} == {
        'ablations', 'deeplabv3plus', 'digits', 'fcn_vgg', 'nested', 'rings',
        'shapes'
    }


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_predicts(config):
    cfg = Config.fromfile(CONFIG_ROOT / config)
    assert cfg.default_scope == 'mmseg'
    assert 'padseg' in cfg.custom_imports['imports']
    checkpoints = pop_checkpoints(cfg.model)
    if config in PAPER_CONFIGS:  # all fine-tune ImageNet weights
        assert len(checkpoints) == 1 and isinstance(checkpoints[0], str)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()

    # A training batch as the data preprocessor makes it: padded to the crop
    # size, or (FCN: whole images, batch 1) left as it is.
    image = torch.randint(0, 256, (3, 24, 40), dtype=torch.uint8)
    label = PixelData(data=torch.zeros(1, 24, 40, dtype=torch.long))
    batch = model.data_preprocessor(
        dict(inputs=[image], data_samples=[SegDataSample(gt_sem_seg=label)]),
        training=True)
    size = tuple(cfg.model.data_preprocessor.get('size') or (24, 40))
    assert batch['inputs'].shape == (1, 3, *size)
    assert batch['data_samples'][0].gt_sem_seg.shape == size

    num_classes = NUM_CLASSES[dataset_of(config)]
    assert model.decode_head.num_classes == num_classes
    with torch.no_grad():
        [sample] = model(torch.rand(1, 3, INPUT_SIZE, INPUT_SIZE),
                         mode='predict')
    assert sample.seg_logits.data.shape == (num_classes, INPUT_SIZE,
                                            INPUT_SIZE)
    assert torch.isfinite(sample.seg_logits.data).all()

    pads = dict(pad_layers(model))
    hooks = [HOOKS.build(dict(hook)) for hook in cfg.get('custom_hooks', [])]
    if '_pad-' not in config:
        assert not pads
        assert not hooks
        return
    assert [type(hook).__name__ for hook in hooks] == [
        'TauAnnealingHook', 'DilationLoggerHook']
    backbone = cfg.model.backbone
    # _pad-[<ablation>-]<backbone>_: e.g. _pad-conv34-vgg16_, _pad-r101-d16_
    backbones = '|'.join(map(re.escape, PAD_PLACES))
    token = re.search(rf'_pad-(?:(\w+)-)?({backbones})_\d+xb', config)
    where, number = PAD_PLACES[token[2]]
    blocks = re.fullmatch(r'conv(\d+)', token[1] or '')
    if blocks:  # Table 1: PAD in the VGG blocks named by the file
        where, number = rf'backbone\.conv[{blocks[1]}]_\d\.conv', 3 * len(
            blocks[1])
    assert len(pads) == number, sorted(pads)
    assert all(re.fullmatch(where, name) for name in pads), sorted(pads)
    aggregation = re.search(r'_pad-(gated|recurrent)-', config)
    expected = aggregation[1] if aggregation else 'markov'
    assert backbone.pad_cfg.aggregation == expected
    assert all(
        type(layer.aggregation).__name__.lower().startswith(expected)
        for layer in pads.values())
    dilations = (1, 2) if '_pad-dil12-' in config else (1, 2, 4)
    assert all(layer.dilations == dilations for layer in pads.values())


@pytest.mark.parametrize('config', PAPER_CONFIGS)
def test_paper_config_names_its_number(config):
    text = (CONFIG_ROOT / config).read_text()
    header = text.split('_base_')[0]
    assert re.search(r'Table [1-5]\b', header), config
    assert re.search(r'\b\d\d\.\d mIoU', header), config


def test_model_zoo_lists_every_paper_config():
    zoo = (ROOT / 'docs' / 'model_zoo.md').read_text()
    listed = set(re.findall(r'(?<!\w)configs/([\w./-]+\.py)', zoo))
    assert all((CONFIG_ROOT / path).is_file() for path in listed)
    assert {p for p in listed if not p.startswith('_base_/')
            } == set(PAPER_CONFIGS)


@pytest.mark.parametrize(
    'name', ['deeplabv3plus_r18w16-os8', 'deeplabv3plus_pad-r18w16-os8'])
def test_digits_classifier_starts_at_kaiming_uniform_scale(name):
    """The main job's models learn which digit is which only when
    ``conv_seg`` does not start at mmseg's N(0, 0.01) (docs/main_job.md):
    after ``init_weights`` its weights span Kaiming-uniform's
    [-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    DefaultScope.get_instance('test_digits_init', scope_name='mmseg')
    cfg = Config.fromfile(
        str(CONFIG_ROOT / 'digits' / f'{name}_1xb8-1k_digits-96x96.py'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    weight = model.decode_head.conv_seg.weight
    bound = weight[0].numel()**-0.5
    assert weight.abs().max() <= bound
    assert weight.std() > 0.5 * bound / 3**0.5  # N(0, 0.01) is far below
