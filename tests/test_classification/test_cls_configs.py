"""Every classification config builds in mmpretrain's scope, runs a forward
pass, puts PAD where the paper does, and names the paper number it targets."""
import re

import pytest
import torch
from helpers.cls_configs import (CONFIGS, TABLE6, TABLE7, TABLE9_BATCH, load,
                         parse_name)
from mmpretrain.registry import MODELS

from padseg.ops import pad_layers

PAD_CONFIGS = [c for c in CONFIGS if parse_name(c)['pad']]

#: The PAD layers of each model (appendix A, Tables 9 and 10).
RESNET50_LAYER2 = ['layer2.1.conv2', 'layer2.2.conv2', 'layer2.3.conv2']
MOBILENET_V2_LAYER3 = ['layer3.1.conv.1.conv', 'layer3.2.conv.1.conv']
PAD_PLACEMENT = {
    ('vgg16', 'in1k'): ['conv5_1.conv', 'conv5_2.conv', 'conv5_3.conv'],
    ('resnet50', 'in1k'): RESNET50_LAYER2,
    ('resnet50', 'fine-grained'): RESNET50_LAYER2,
    ('drn-c-26', 'in1k'): ['layer8.0.conv1', 'layer8.0.conv2'],
    ('drn-c-26', 'fine-grained'): ['layer7.0.conv1', 'layer7.0.conv2',
                                   'layer8.0.conv1', 'layer8.0.conv2'],
    ('mobilenet-v2', 'in1k'): MOBILENET_V2_LAYER3,
    ('mobilenet-v2', 'fine-grained'): MOBILENET_V2_LAYER3,
    ('resnet18-w16', 'digits'): ['layer2.0.conv2', 'layer2.1.conv1',
                                 'layer2.1.conv2'],
}

#: Vanilla backbone of each PAD backbone: a PAD config is its regular
#: config with this type swapped and PAD's own settings added.
VANILLA = dict(PADVGG='FCNVGG', PADResNet='ResNet', PADDRN='DRN',
               PADMobileNetV2='MobileNetV2')

DATASETS = {
    'in1k': ('ImageNet', 'train', 'val'),
    'stanford-cars': ('StanfordCars', 'train', 'test'),
    'fgvc-aircraft': ('FGVCAircraft', 'trainval', 'test'),
    'digits': ('CustomDataset', None, None),
}
TABLE7_DATASETS = {dataset for dataset, _ in TABLE7}


def task(dataset: str) -> str:
    """'in1k', 'digits' or 'fine-grained' (the Table 7 datasets)."""
    return 'fine-grained' if dataset in TABLE7_DATASETS else dataset


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds_and_classifies(config):
    parts = parse_name(config)
    cfg = load(config)
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.custom_imports == dict(
        imports=['padseg'], allow_failed_imports=False)
    num_classes = cfg.model.head.num_classes
    assert cfg.data_preprocessor.num_classes == num_classes
    model = MODELS.build(cfg.model).eval()
    # fc6 of VGG is a 7x7 conv on pool5: 224 px is the smallest usual input.
    shape = (1, 3, 224, 224) if parts['model'] == 'vgg16' else (2, 3, 64, 64)
    with torch.no_grad():
        logits = model(torch.rand(shape), mode='tensor')
    assert logits.shape == (shape[0], num_classes)

    layers = dict(pad_layers(model.backbone))
    hooks = [hook['type'] for hook in cfg.get('custom_hooks', [])]
    if not parts['pad']:
        assert not layers and not hooks
        return
    assert list(layers) == PAD_PLACEMENT[(parts['model'],
                                          task(parts['dataset']))]
    dilations = (1, 2, 3) if task(parts['dataset']) == 'fine-grained' else (
        1, 2, 4)
    for layer in layers.values():
        assert tuple(layer.dilations) == dilations
        assert type(layer.aggregation).__name__ == 'MarkovAggregation'
    assert hooks == ['TauAnnealingHook', 'DilationLoggerHook']


@pytest.mark.parametrize('config', CONFIGS)
def test_config_states_paper_target_and_setting(config):
    """The top comment names the paper's number; name, batch, epochs, crop
    and dataset of the config agree with it and with appendix A."""
    parts = parse_name(config)
    cfg = load(config)
    with open(cfg.filename) as f:
        first_line = f.readline()
    kind = 'PAD' if parts['pad'] else 'regular'
    dataset = parts['dataset']
    if dataset == 'in1k':
        top1, top5 = TABLE6[parts['model']][parts['pad']]
        assert re.match(rf'# Table 6, row .+, {kind}: top-1 {top1}, '
                        rf'top-5 {top5} ', first_line), first_line
        total_batch = TABLE9_BATCH[parts['model']]
    elif dataset in TABLE7_DATASETS:
        top1 = TABLE7[(dataset, parts['crop'])][parts['model']][parts['pad']]
        assert re.match(rf'# Table 7, row .+, crop {parts["crop"]}, '
                        rf'{kind}: top-1 {top1}\.', first_line), first_line
        total_batch = 64
    else:
        assert first_line.startswith('# Embedded classification run')
        total_batch = None

    gpus, batch = int(parts['gpus']), int(parts['batch'])
    assert cfg.train_dataloader.batch_size == batch
    if total_batch is not None:
        assert gpus * batch == total_batch
        assert cfg.auto_scale_lr.base_batch_size == total_batch
    assert f'{cfg.train_cfg.max_epochs}e' == parts['schedule']

    dataset_type, train_split, test_split = DATASETS[dataset]
    train_set = cfg.train_dataloader.dataset
    test_set = cfg.test_dataloader.dataset
    assert train_set.type == test_set.type == dataset_type
    assert (train_set.get('split'), test_set.get('split')) == (train_split,
                                                               test_split)
    if dataset != 'digits':
        assert train_set.pipeline[1] == dict(
            type='RandomResizedCrop', scale=parts['crop'], backend='pillow')
        assert test_set.pipeline[2] == dict(
            type='CenterCrop', crop_size=parts['crop'])
    init_cfg = cfg.model.backbone.get('init_cfg')
    if dataset in TABLE7_DATASETS:  # fine-tuned from public ImageNet weights
        assert init_cfg.type == 'Pretrained'
        assert init_cfg.checkpoint.startswith(('http://', 'https://'))
    else:
        assert init_cfg is None


@pytest.mark.parametrize('config', PAD_CONFIGS)
def test_pad_config_is_its_regular_config_plus_pad(config):
    pad = load(config).to_dict()
    regular = load(config.replace('/pad-', '/')).to_dict()
    pad_backbone = pad['model']['backbone']
    assert VANILLA[pad_backbone.pop('type')] == regular['model'][
        'backbone'].pop('type')
    # the start-up state is written out with its reason (docs/pad_layer.md)
    pad_cfg = pad_backbone.pop('pad_cfg')
    assert set(pad_cfg) == {'dilations', 'aggregation', 'prior_init'}
    assert pad_cfg['prior_init'] == 'base'
    pad_backbone.pop('stage_with_pad')
    pad.pop('custom_hooks')
    for cfg in (pad, regular):
        cfg.pop('filename', None)
    assert pad == regular
