"""Models and images for the analysis tools, from a config of either task.

The model comes from the scope's own builder (mmseg's ``init_model``,
mmpretrain's ``get_model``); images go through the config's test pipeline (also
for the train split, so every run sees the same pixels) and, when the network
runs, through the model's ``data_preprocessor``.
"""
import copy
import os.path as osp
from collections import Counter
from typing import List, NamedTuple, Optional, Sequence

import numpy as np
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, init_default_scope
from torch import Tensor, nn

from padseg.registry import task_scope

__all__ = [
    'Sample', 'load_model', 'load_samples', 'preprocess', 'run_model',
    'SPLITS'
]

SPLITS = ('train', 'val', 'test')


class Sample(NamedTuple):
    """One image as the network sees it.

    Attributes:
        name (str): File name without extension (or ``<split>_<index>``),
            suffixed with ``_<index>`` where names repeat.
        image (np.ndarray): ``(H, W, 3)`` RGB uint8, after the test pipeline.
        data (dict): The packed pipeline output (``inputs``, ``data_samples``).
    """
    name: str
    image: np.ndarray
    data: dict


def load_model(cfg: Config, checkpoint: Optional[str],
               device: str = 'cpu') -> nn.Module:
    """Build the config's model in eval mode, with ``checkpoint`` loaded
    (none: random weights, enough for counting parameters and FLOPs)."""
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    cfg = copy.deepcopy(cfg)  # both builders edit the config they get
    if task_scope(cfg) == 'mmseg':
        from mmseg.apis import init_model
        return init_model(cfg, checkpoint, device=device)
    from mmpretrain.apis import get_model
    init_default_scope('mmpretrain')
    return get_model(cfg, pretrained=checkpoint or False, device=device)


def _test_pipeline(cfg: Config) -> list:
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    pipeline = dataset.get('pipeline', cfg.get('test_pipeline'))
    if pipeline is None:
        raise ValueError('the config has no test pipeline '
                         '(test_dataloader.dataset.pipeline or test_pipeline)')
    return copy.deepcopy(pipeline)


def _to_rgb(inputs: Tensor) -> np.ndarray:
    # OpenMMLab's LoadImageFromFile reads BGR; the data preprocessor flips it
    image = inputs.permute(1, 2, 0).numpy()
    if image.shape[2] == 3:
        image = image[..., ::-1]
    return np.ascontiguousarray(image).astype(np.uint8)


def _sample(data: dict, fallback_name: str) -> Sample:
    path = getattr(data.get('data_samples'), 'img_path', None)
    name = osp.splitext(osp.basename(path))[0] if path else fallback_name
    return Sample(name, _to_rgb(data['inputs']), data)


def load_samples(cfg: Config,
                 split: str = 'test',
                 num_images: Optional[int] = None,
                 img_paths: Optional[Sequence[str]] = None,
                 indices: Optional[Sequence[int]] = None) -> List[Sample]:
    """Images of a dataset split, or image files, through the test pipeline.

    Args:
        cfg (Config): A config of either task (``default_scope`` decides).
        split (str): ``'train'``, ``'val'`` or ``'test'``: the dataset of
            ``<split>_dataloader``. Default: ``'test'``.
        num_images (int, optional): The first ``num_images`` of the split;
            all when None.
        img_paths (Sequence[str], optional): Image files to use instead of a
            split (their annotations are not loaded).
        indices (Sequence[int], optional): Indices in the split to use
            instead of the first ``num_images``.
    """
    scope = task_scope(cfg)
    init_default_scope(scope)
    pipeline = _test_pipeline(cfg)
    if img_paths:
        transforms = Compose([t for t in pipeline
                              if 'LoadAnnotations' not in t['type']])
        for path in img_paths:
            if not osp.isfile(path):
                raise FileNotFoundError(f'image not found: {path}')
        return _unique_names([
            _sample(transforms(dict(img_path=path)), f'image_{i}')
            for i, path in enumerate(img_paths)
        ])
    if split not in SPLITS:
        raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(f'the config has no {split}_dataloader.dataset')
    dataset_cfg = copy.deepcopy(loader['dataset'])
    if 'pipeline' in dataset_cfg:
        dataset_cfg['pipeline'] = pipeline
    dataset = DATASETS.build(dataset_cfg)
    if indices is None:
        count = len(dataset) if num_images is None else min(
            num_images, len(dataset))
        indices = range(count)
    for index in indices:
        if not 0 <= index < len(dataset):
            raise ValueError(f'image index {index} is outside the {split} '
                             f'split ({len(dataset)} images)')
    return _unique_names(
        [_sample(dataset[i], f'{split}_{i}') for i in indices])


def _unique_names(samples: List[Sample]) -> List[Sample]:
    # file names may repeat across folders (class folders): keep each output
    counts = Counter(sample.name for sample in samples)
    return [
        sample._replace(name=f'{sample.name}_{i}')
        if counts[sample.name] > 1 else sample
        for i, sample in enumerate(samples)
    ]


def preprocess(model: nn.Module, sample: Sample) -> Tensor:
    """The network input of one sample: ``(1, C, H, W)`` on the model's
    device, normalised by the model's ``data_preprocessor``."""
    data = dict(inputs=[sample.data['inputs']])
    if 'data_samples' in sample.data:
        data['data_samples'] = [sample.data['data_samples']]
    return model.data_preprocessor(data, False)['inputs']


def run_model(model: nn.Module, inputs: Tensor):
    """Forward a network input through the whole model: OpenMMLab models in
    ``'tensor'`` mode (no post-processing), any other module directly."""
    if isinstance(model, BaseModel):
        return model(inputs, mode='tensor')
    return model(inputs)
