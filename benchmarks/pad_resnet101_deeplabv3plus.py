"""Cost of PAD in a whole network: PAD-ResNet-101 + DeepLabV3+ against the
regular ResNet-101 + DeepLabV3+.

Both models are built from the repository's configs
(``configs/deeplabv3plus/deeplabv3plus_{pad-,}r101-d16_4xb2-30k_voc12aug-``
``512x512.py``:
``ResNetV1c``/``PADResNetV1c``, strides (1, 2, 2, 1), dilations (1, 1, 1, 2),
output stride 16, PAD in the three ``conv2`` of layer4, mmseg's
``DepthwiseSeparableASPPHead``), with SyncBN replaced by BN and no pretrained
weights. The PAD model gets the regular model's weights and a random prior
(aggregation weights ~ N(0, 1/C)), so every candidate dilation is picked by a
real share of the pixels (printed). Prints the training step (forward, loss,
backward) and inference (``predict``, ``inference='argmax'``) times of both,
measured interleaved, and their ratios.

    python benchmarks/pad_resnet101_deeplabv3plus.py [--repeats 5]
        [--batch 2] [--size 256] [--threads N] [--clock {wall,cpu}]
"""
import argparse
import copy
import os
import sys

import torch
from mmengine.config import Config
from mmengine.structures import PixelData

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import padseg.models  # noqa: E402,F401  (registers PADResNetV1c)
from padseg.ops import pad_layers, record_dilations  # noqa: E402

from pad_layer import (CLOCKS, add_timing_arguments,  # noqa: E402
                       describe_machine, interleaved_medians)

CONFIG = ('configs/deeplabv3plus/'
          'deeplabv3plus_{}r101-d16_4xb2-30k_voc12aug-512x512.py')


def _sync_bn_to_bn(cfg):
    if isinstance(cfg, dict):
        if cfg.get('type') == 'SyncBN':
            cfg['type'] = 'BN'
        for value in cfg.values():
            _sync_bn_to_bn(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            _sync_bn_to_bn(value)


def build_model(pad: bool, size: int):
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(os.path.join(ROOT, CONFIG.format('pad-' if pad
                                                           else '')))
    model_cfg = copy.deepcopy(cfg.model)
    _sync_bn_to_bn(model_cfg)
    model_cfg['backbone'].pop('init_cfg', None)
    model_cfg['data_preprocessor']['size'] = (size, size)
    return MODELS.build(model_cfg)


def randomise_priors(model, inputs: torch.Tensor) -> None:
    """Random ``U_h`` rows, then per candidate scaled and shifted so that its
    logit over the benchmark batch has mean 0 and standard deviation 1 (the
    features after ReLU all share a positive mean, so raw random weights
    would make one candidate win everywhere). Calibrated layer by layer in
    one forward pass, each layer seeing the choices of the layers before."""

    def calibrate(layer, args):
        agg = layer.aggregation
        x = args[0]
        y = layer._centre_samples(x, layer.output_size(x))
        logit = torch.einsum('dc,nchw->ndhw', agg.u_h, y)
        mean, std = logit.mean((0, 2, 3)), logit.std((0, 2, 3))
        agg.u_h.div_(std[:, None])
        agg.u_h_bias.copy_(-mean / std)

    handles = []
    with torch.no_grad():
        for _, layer in pad_layers(model):
            for param in layer.aggregation.parameters():
                param.normal_(0, param.shape[-1]**-0.5 if param.dim() > 1
                              else 0.0)
            handles.append(layer.register_forward_pre_hook(calibrate))
        model.eval()
        model.extract_feat(inputs)
    for handle in handles:
        handle.remove()


def make_batch(batch: int, size: int, num_classes: int):
    from mmseg.structures import SegDataSample
    inputs = torch.randn(batch, 3, size, size)
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        sample.set_metainfo(dict(img_shape=(size, size),
                                 pad_shape=(size, size),
                                 ori_shape=(size, size)))
        sample.gt_sem_seg = PixelData(
            data=torch.randint(0, num_classes, (1, size, size)))
        samples.append(sample)
    return inputs, samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    add_timing_arguments(parser)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--size', type=int, default=256)
    parser.set_defaults(repeats=5)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    models = {'regular': build_model(False, args.size),
              'PAD': build_model(True, args.size)}
    missing, _ = models['PAD'].load_state_dict(
        models['regular'].state_dict(), strict=False)
    assert all('.aggregation.' in key for key in missing), missing
    num_classes = models['regular'].decode_head.num_classes
    inputs, samples = make_batch(args.batch, args.size, num_classes)
    randomise_priors(models['PAD'], inputs)

    def train(model):
        def run():
            model.train()
            losses = model.loss(inputs, samples)
            sum(losses.values()).backward()
            model.zero_grad(set_to_none=True)
        return run

    def infer(model):
        def run():
            model.eval()
            with torch.no_grad():
                model.predict(inputs, samples)
        return run

    models['PAD'].eval()
    with torch.no_grad(), record_dilations(models['PAD']) as layers:
        models['PAD'].predict(inputs, samples)
        shares = {name: [float(s) for s in layer.last_probs.mean((0, 2, 3))]
                  for name, layer in layers.items()}

    print(describe_machine(args) + f'; batch {args.batch}, '
          f'{args.size}x{args.size}, median of {args.repeats}')
    for name, share in shares.items():
        print(f'# {name}: candidate shares ' +
              '/'.join(f'{s:.2f}' for s in share))
    clock = CLOCKS[args.clock]
    train_t = interleaved_medians({n: train(m) for n, m in models.items()},
                                  args.repeats, clock, baseline='regular')
    infer_t = interleaved_medians({n: infer(m) for n, m in models.items()},
                                  args.repeats, clock, baseline='regular')
    print('| | regular s | PAD s | PAD/regular |')
    print('|---|---|---|---|')
    for kind, times in (('training step', train_t), ('inference', infer_t)):
        print(f'| {kind} | {times["regular"]:.3f} | {times["PAD"]:.3f} | '
              f'{times["ratios"]["PAD"]:.3f} |', flush=True)


if __name__ == '__main__':
    main()
