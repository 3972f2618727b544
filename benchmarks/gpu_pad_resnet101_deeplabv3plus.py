"""Cost of PAD in a whole network on a CUDA GPU: the PAD-ResNet-101 +
DeepLabV3+ training step (forward, loss, backward; bf16 autocast) with the
Triton kernels and with the reference, against the regular network's, all
measured in the same run (CUDA events, paired ratios, interleaved).

The models are those of ``benchmarks/pad_resnet101_deeplabv3plus.py`` (the
repository's configs, SyncBN as BN, the regular weights in both, a
calibrated random prior so every candidate is used). On a machine without a
CUDA GPU it says so and exits with status 0.

    python benchmarks/gpu_pad_resnet101_deeplabv3plus.py [--repeats 10]
        [--batch 8] [--size 512]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_pad_layer import no_gpu, paired_ratios  # noqa: E402
from pad_resnet101_deeplabv3plus import (build_model,  # noqa: E402
                                         make_batch, randomise_priors)

from padseg.ops import pad_layers  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=512)
    args = parser.parse_args()
    if no_gpu():
        return
    torch.manual_seed(0)
    regular = build_model(False, args.size)
    pad = build_model(True, args.size)
    pad.load_state_dict(regular.state_dict(), strict=False)
    num_classes = regular.decode_head.num_classes
    inputs, samples = make_batch(args.batch, args.size, num_classes)
    randomise_priors(pad, inputs)
    regular, pad = regular.cuda(), pad.cuda()
    inputs = inputs.cuda()
    samples = [s.to('cuda') for s in samples]

    def train(model, kernel=None):
        def run():
            for _, layer in pad_layers(model):
                layer.gpu_kernel = kernel
            model.train()
            with torch.autocast('cuda', dtype=torch.bfloat16):
                losses = model.loss(inputs, samples)
            sum(losses.values()).backward()
            model.zero_grad(set_to_none=True)
        return run

    ratios = paired_ratios({'regular': train(regular),
                            'PAD-Triton': train(pad, 'triton'),
                            'PAD-reference': train(pad, 'reference')},
                           args.repeats, 'regular')
    print(f'# {torch.cuda.get_device_name()}, torch {torch.__version__}, '
          f'batch {args.batch}, {args.size}x{args.size}, bf16 autocast')
    print(f'regular training step: {ratios["ms"]:.1f} ms')
    for name in ('PAD-Triton', 'PAD-reference'):
        print(f'{name} / regular: {ratios[name]:.3f}')


if __name__ == '__main__':
    main()
