"""padseg's configs through the OpenMMLab inference APIs, as a user calls
them: mmseg's ``init_model`` + ``inference_model`` and ``MMSegInferencer``,
mmpretrain's ``ImageClassificationInferencer``; random weights, a generated
image file, each API in a fresh process that knows padseg only through the
config's ``custom_imports``."""
import copy
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(
    osp.relpath(path, REPO)
    for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                          recursive=True) if '_base_' not in path)
SEG_CONFIGS = [c for c in CONFIGS if not c.startswith('configs/classif')]
CLS_CONFIGS = [c for c in CONFIGS if c.startswith('configs/classif')]


@pytest.fixture(scope='module')
def image_file(tmp_path_factory):
    """A 64x48 BGR image with some structure, written as JPEG."""
    rng = np.random.default_rng(0)
    image = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    cv2.rectangle(image, (10, 8), (40, 30), (20, 200, 90), -1)
    path = str(tmp_path_factory.mktemp('img') / 'scene.jpg')
    cv2.imwrite(path, image)
    return path


def pipeline_types(cfg):
    """Every transform type of every pipeline in ``cfg``."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if 'type' in node and isinstance(node['type'], str) and (
                    'Load' in node['type'] or 'Pack' in node['type']
                    or 'Resize' in node['type']):
                found.append(node['type'])
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)
    walk(cfg._cfg_dict.to_dict())
    return found


@pytest.mark.parametrize('config', CONFIGS)
def test_pipelines_use_only_stock_transforms(config):
    """Loaders, resizers and packers are the stock types, found in the
    stock registries: every API that edits pipelines by type name sees
    them."""
    cfg = Config.fromfile(osp.join(REPO, config))
    types_ = pipeline_types(cfg)
    assert 'LoadImageFromFile' in types_
    scope = cfg.default_scope
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['TRANSFORMS'])
    for name in set(types_):
        cls = registry.TRANSFORMS.get(name)
        assert cls is not None, name
        assert not cls.__module__.startswith('padseg'), (name, cls)


@pytest.mark.parametrize('config', SEG_CONFIGS)
def test_seg_test_pipeline_as_the_mmseg_apis_edit_it(config, image_file):
    """The test pipeline after ``inference_model``'s edit (file and array
    input) and after ``MMSegInferencer``'s edit runs on an image file."""
    from mmseg.apis import MMSegInferencer
    from mmseg.apis.utils import _preprare_data
    cfg = Config.fromfile(osp.join(REPO, config))
    init_default_scope('mmseg')
    image = cv2.imread(image_file)
    for item in (image_file, image):
        model = types.SimpleNamespace(cfg=copy.deepcopy(cfg))
        data, _ = _preprare_data(item, model)
        assert data['inputs'][0].shape[0] == 3
        assert not data['data_samples'][0].get('gt_sem_seg')
    inferencer = object.__new__(MMSegInferencer)  # its pipeline only
    pipeline = inferencer._init_pipeline(copy.deepcopy(cfg))
    for item in (image_file, image):
        assert pipeline(item)['inputs'].shape[0] == 3


@pytest.mark.parametrize('config', CLS_CONFIGS)
def test_cls_test_pipeline_as_the_mmpretrain_inferencer_edits_it(
        config, image_file):
    from mmpretrain.apis import ImageClassificationInferencer
    cfg = Config.fromfile(osp.join(REPO, config))
    init_default_scope('mmpretrain')
    inferencer = object.__new__(ImageClassificationInferencer)
    pipeline = inferencer._init_pipeline(copy.deepcopy(cfg))
    image = cv2.imread(image_file)
    out = pipeline(dict(img=image, img_shape=image.shape[:2],
                        ori_shape=image.shape[:2]))
    assert out['inputs'].shape[0] == 3


# ------------------------------------------------ real models, fresh process
DRIVERS = {
    'inference_model': r'''
from mmseg.apis import init_model, inference_model
for config in configs:
    model = init_model(config, device='cpu')
    for item in (image, cv2.imread(image)):
        result = inference_model(model, item)
        shape = tuple(result.pred_sem_seg.data.shape[-2:])
        assert shape == (48, 64), shape
    report.append([config, int(result.pred_sem_seg.data.max())])
''',
    'MMSegInferencer': r'''
from mmseg.apis import MMSegInferencer
for config in configs:
    inferencer = MMSegInferencer(model=config, device='cpu')
    out = inferencer(image, return_datasamples=True)
    shape = tuple(out.pred_sem_seg.data.shape[-2:])
    assert shape == (48, 64), shape
    vis = inferencer(image, return_vis=True)['visualization']  # one image
    assert vis.shape == (48, 64, 3), vis.shape
    report.append([config, int(out.pred_sem_seg.data.max())])
''',
    'ImageClassificationInferencer': r'''
from mmpretrain.apis import ImageClassificationInferencer
for config in configs:
    inferencer = ImageClassificationInferencer(model=config, device='cpu')
    result = inferencer(image)[0]
    scores = result['pred_scores']
    assert abs(float(scores.sum()) - 1) < 1e-4, scores.sum()
    assert 0 <= result['pred_label'] < len(scores)
    report.append([config, int(result['pred_label'])])
''',
}
PREAMBLE = r'''
import json, sys, warnings
import cv2
warnings.simplefilter('ignore')
image, configs = sys.argv[1], sys.argv[2:]
report = []
'''
CASES = {
    'inference_model': [
        'configs/digits/deeplabv3plus_pad-r18w16-os8_1xb8-1k_digits-96x96.py',
        'configs/deeplabv3plus/'
        'deeplabv3plus_pad-m-v2-d16_4xb2-80k_cityscapes-512x1024.py',
    ],
    'MMSegInferencer': [
        'configs/digits/deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py',
        'configs/fcn_vgg/fcn8s_pad-vgg16_1xb1-300k_voc12aug-500x500.py',
    ],
    'ImageClassificationInferencer': [
        'configs/classification/digits/'
        'pad-resnet18-w16_1xb32-10e_digits-64px.py',
        'configs/classification/mobilenet_v2/'
        'pad-mobilenet-v2_8xb8-120e_stanford-cars-224px.py',
    ],
}


@pytest.mark.parametrize('api', sorted(DRIVERS))
def test_api_in_a_fresh_process(api, image_file, tmp_path):
    """The API as a user calls it: in a new interpreter whose working
    directory is not the checkout, given config paths; padseg arrives
    through the configs' ``custom_imports`` (installed in .venv)."""
    configs = [osp.join(REPO, c) for c in CASES[api]]
    code = PREAMBLE + DRIVERS[api] + "print('\\nREPORT', json.dumps(report))\n"
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run([sys.executable, '-c', code, image_file] + configs,
                         cwd=str(tmp_path), env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.rpartition('REPORT ')[2])
    assert [row[0] for row in report] == configs


def test_image_demo_writes_segmentation_and_dilation_maps(tmp_path,
                                                          image_file):
    """tools/image_demo.py over a folder: per image the segmentation overlay
    and, for a PAD model, the dilation maps, as PNG files."""
    folder = tmp_path / 'images'
    folder.mkdir()
    image = cv2.imread(image_file)
    for name in ('a.jpg', 'b.png'):
        cv2.imwrite(str(folder / name), image)
    (folder / 'notes.txt').write_text('not an image')
    out_dir = tmp_path / 'out'
    config = osp.join(
        REPO, 'configs/digits/deeplabv3plus_pad-r18w16-os8_1xb8-1k_digits-'
        '96x96.py')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'image_demo.py'),
         str(folder), config, '--out-dir', str(out_dir)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    written = sorted(os.listdir(out_dir))
    assert written == ['a.png', 'a_dilation.png', 'b.png', 'b_dilation.png']
    overlay = cv2.imread(str(out_dir / 'a.png'))
    assert overlay.shape == image.shape
    assert not np.array_equal(overlay, image)  # the segmentation is painted
    figure = cv2.imread(str(out_dir / 'a_dilation.png'))
    assert figure.shape[0] > 100 and figure.shape[1] > 100
    # a vanilla model has no dilation map; a wrong argument is named
    vanilla = config.replace('_pad-', '_')
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'image_demo.py'),
         str(folder / 'a.jpg'), vanilla, '--out-dir', str(tmp_path / 'v')],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert os.listdir(tmp_path / 'v') == ['a.png']
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'image_demo.py'),
         str(tmp_path / 'missing'), vanilla, '--out-dir', str(tmp_path)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True,
        timeout=600)
    assert out.returncode != 0
    assert f'image or folder not found: {tmp_path / "missing"}' in out.stderr
