"""Deploy a trained PAD model cheaply: every PAD layer whose argmax picks one
dilation on at least ``--threshold`` of the val set's pixels becomes a plain
convolution at that dilation, with the same weight.

    python tools/deployment/pad_freeze.py CONFIG CHECKPOINT
        [--threshold 0.99] [--out-dir DIR] [--overwrite]
        [--cfg-options k=v ...]

It runs the model over the config's val set (its ``val_dataloader`` and
``val_evaluator``, as ``tools/test.py`` would, recording each PAD layer's
argmax), picks the layers, writes ``<config>_frozen.py`` (the backbone
wrapped in ``FrozenPADBackbone`` with the chosen ``{layer: dilation}``) and
``<checkpoint>_frozen.pth`` (the model's weights without the frozen layers'
priors; no optimizer state) into ``--out-dir`` (default: ``frozen/`` beside
the checkpoint), evaluates the frozen model on the same val set and prints,
per PAD layer, the candidates' shares and what became of it, the val metrics
before and after, and the forward time of one val batch before and after
(this machine, same run). A layer whose prior a Recurrent or Gated layer
after it still reads stays PAD (said so). Nothing is overwritten without
``--overwrite``; the input checkpoint never is. The frozen model runs
through the stock tools (``tools/test.py``, mmseg's own test.py,
``init_model``) and exports to ONNX.
"""
import argparse
import copy
import json
import numbers
import os
import os.path as osp
import statistics
import sys
import time

import torch
from mmengine.config import DictAction
from mmengine.runner.checkpoint import CheckpointLoader

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))

import padseg  # noqa: E402,F401  (registers PAD models, hooks)
from padseg.apis import adapt_to_device, build_runner, load_config  # noqa
from padseg.models.freeze import check_freezable  # noqa: E402
from padseg.ops import pad_layers, record_dilations  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the trained PAD model\'s config')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument('--threshold', type=float, default=0.99,
                        help='share of val pixels one dilation needs for '
                        'its layer to become a plain conv (default 0.99)')
    parser.add_argument('--out-dir', help='where the frozen config and '
                        'checkpoint go (default: frozen/ beside the '
                        'checkpoint)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace frozen files written before')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config')
    args = parser.parse_args(argv)
    if not 0.5 < args.threshold <= 1.0:
        parser.error(f'--threshold must be in (0.5, 1], got {args.threshold}')
    for name, path in (('config', args.config),
                       ('checkpoint', args.checkpoint)):
        if not osp.isfile(path):
            parser.error(f'{name} not found: {path}')
    return args


def _model(runner):
    model = runner.model
    return getattr(model, 'module', model)


def _runner(cfg, checkpoint, work_dir):
    cfg = copy.deepcopy(cfg)
    cfg.load_from, cfg.resume, cfg.work_dir = checkpoint, False, work_dir
    return build_runner(cfg)


def validate(runner, count=False):
    """The val metrics, and with ``count`` each PAD layer's argmax counts
    per candidate over the val set (``{name under backbone: counts}``)."""
    backbone = _model(runner).backbone
    counts, handles = {}, []
    if count:
        for name, layer in pad_layers(backbone):
            def add(module, args, out, name=name):
                index = module.last_probs.argmax(1).flatten()
                found = torch.bincount(index, minlength=len(
                    module.dilations)).cpu()
                counts[name] = counts.get(name, 0) + found
            handles.append(layer.register_forward_hook(add))
    try:
        with record_dilations(backbone):
            metrics = runner.val()
    finally:
        for handle in handles:
            handle.remove()
    return metrics, counts


def forward_ms(runners, rounds=21):
    """Median ms of each runner's model forward pass on the first val batch
    of the first, interleaved round by round (so drift hits both alike)."""
    models = [_model(runner) for runner in runners]
    data = models[0].data_preprocessor(
        next(iter(runners[0].val_dataloader)), False)
    times = [[] for _ in models]
    with torch.no_grad():
        for model in models:
            model.eval()
            model(data['inputs'], mode='tensor')
        for _ in range(rounds):
            for model, kept in zip(models, times):
                start = time.perf_counter()
                model(data['inputs'], mode='tensor')
                kept.append((time.perf_counter() - start) * 1e3)
    return [statistics.median(kept) for kept in times]


def choose(backbone, counts, threshold):
    """``{name: dilation}`` of the layers to freeze, and why the others
    stay, ``{name: reason}``."""
    layers = dict(pad_layers(backbone))
    frozen, kept = {}, {}
    for name, layer in layers.items():
        shares = counts[name].double() / counts[name].sum()
        top = int(shares.argmax())
        if shares[top] >= threshold:
            frozen[name] = layer.dilations[top]
        else:
            kept[name] = f'top share {float(shares[top]):.4f} < {threshold}'
    while True:  # a frozen layer must not feed a chained layer that stays
        blocked = check_freezable(backbone, frozen)
        if not blocked:
            return frozen, kept
        for name, why in blocked.items():
            del frozen[name]
            kept[name] = why


def frozen_checkpoint(path, frozen, out_path):
    """The checkpoint without the frozen layers' priors (state dict and
    meta only)."""
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint)
    prefixes = tuple(f'backbone.{name}.' for name in frozen)
    removed = [key for key in state if key.startswith(prefixes) and (
        '.aggregation.' in key[len('backbone.'):] or key.endswith('.tau'))]
    meta = dict(checkpoint.get('meta', {}) or {})
    meta['pad_freeze'] = dict(source=osp.abspath(path), frozen=frozen)
    torch.save(dict(meta=meta, state_dict={
        k: v for k, v in state.items() if k not in removed}), out_path)
    return removed


def main(argv=None):
    args = parse_args(argv)
    out_dir = args.out_dir or osp.join(osp.dirname(
        osp.abspath(args.checkpoint)), 'frozen')
    stem = osp.splitext(osp.basename(args.checkpoint))[0]
    cfg_out = osp.join(out_dir, osp.splitext(osp.basename(args.config))[0] +
                       '_frozen.py')
    ckpt_out = osp.join(out_dir, stem + '_frozen.pth')
    for path in (cfg_out, ckpt_out):
        if osp.realpath(path) in (osp.realpath(args.checkpoint),
                                  osp.realpath(args.config)):
            sys.exit(f'pad_freeze: {path} would overwrite an input; choose '
                     'another --out-dir')
        if osp.exists(path) and not args.overwrite:
            sys.exit(f'pad_freeze: {path} exists; pass --overwrite to '
                     'replace it')
    os.makedirs(out_dir, exist_ok=True)
    work = osp.join(out_dir, 'work')
    cfg = load_config(args.config, args.cfg_options, work, 'none')
    adapt_to_device(cfg)
    runner = _runner(cfg, args.checkpoint, work)
    backbone = _model(runner).backbone
    if not any(True for _ in pad_layers(backbone)):
        sys.exit(f'pad_freeze: {args.config} has no PAD layer in its '
                 'backbone; nothing to freeze')
    before, counts = validate(runner, count=True)
    frozen, kept = choose(backbone, counts, args.threshold)
    frozen_cfg = copy.deepcopy(cfg)
    frozen_cfg.model.backbone = dict(type='FrozenPADBackbone',
                                     backbone=cfg.model.backbone,
                                     frozen=frozen)
    frozen_cfg.pop('load_from', None)
    frozen_cfg.dump(cfg_out)
    removed = frozen_checkpoint(args.checkpoint, frozen, ckpt_out)
    after_runner = _runner(frozen_cfg, ckpt_out, work)
    missing = _model(after_runner).load_state_dict(
        torch.load(ckpt_out, map_location='cpu')['state_dict'], strict=False)
    if missing.missing_keys or missing.unexpected_keys:
        sys.exit(f'pad_freeze: the frozen checkpoint does not match the '
                 f'frozen model: {missing}')
    after, _ = validate(after_runner)
    time_before, time_after = forward_ms([runner, after_runner])
    rows = []
    print('| PAD layer | shares per candidate dilation | now |')
    print('|---|---|---|')
    for name, layer in pad_layers(backbone):
        shares = (counts[name].double() / counts[name].sum()).tolist()
        now = (f'plain conv, dilation {frozen[name]}' if name in frozen else
               f'PAD ({kept[name]})')
        rows.append(dict(layer=name, shares=shares, now=now))
        cells = '/'.join(f'd{d} {s:.4f}' for d, s in zip(layer.dilations,
                                                         shares))
        print(f'| {name} | {cells} | {now} |')
    keys = [k for k in before if isinstance(before[k], numbers.Real)]
    print('val before: ' + ', '.join(f'{k} {before[k]:.2f}' for k in keys))
    print('val after:  ' + ', '.join(f'{k} {after.get(k, float("nan")):.2f}'
                                     for k in keys))
    print(f'forward of one val batch (median of 21 interleaved rounds, this '
          f'machine): {time_before:.1f} ms -> {time_after:.1f} ms '
          f'({time_after / time_before:.2f}x)')
    print(f'wrote {cfg_out} and {ckpt_out} ({len(frozen)} of '
          f'{len(rows)} PAD layers frozen, {len(removed)} prior keys '
          'dropped)')
    report = dict(config=cfg_out, checkpoint=ckpt_out,
                  threshold=args.threshold, layers=rows, frozen=frozen,
                  val_before=before, val_after=after,
                  forward_ms=dict(before=time_before, after=time_after))
    with open(osp.join(out_dir, stem + '_frozen.json'), 'w') as f:
        json.dump(report, f, indent=1, default=float)
    return report


if __name__ == '__main__':
    main()
