"""``import padseg`` checks the OpenMMLab versions it finds against the
ranges of padseg/stack.py and names a wrong one clearly."""
from importlib import metadata

import pytest

from padseg import stack


def fake_versions(monkeypatch, versions):
    def version(distribution):
        if distribution not in versions:
            raise metadata.PackageNotFoundError(distribution)
        return versions[distribution]

    monkeypatch.setattr(stack.metadata, 'version', version)


def test_both_lines_pass():
    stack.check_stack()  # this environment
    for line in stack.STACKS.values():
        for dist, low, below in line.values():
            assert stack._in_range(low, low, below)
            assert not stack._in_range(below, low, below)


@pytest.mark.parametrize('versions,match', [
    (dict(mmcv='2.2.0', mmengine='0.10.7', mmsegmentation='1.2.2'),
     r'supports mmcv >=2\.0\.0,<2\.2\.0 \(openmmlab\) or onedl-mmcv '
     r'>=2\.3\.0,<2\.4\.0 \(onedl\); found mmcv 2\.2\.0 \(module mmcv\)'),
    ({'onedl-mmcv': '2.3.6', 'onedl-mmengine': '0.10.12',
      'onedl-mmsegmentation': '1.1.0'}, r'found onedl-mmsegmentation 1\.1\.0'),
    (dict(mmcv='1.7.2', mmengine='0.10.7', mmsegmentation='1.2.2'),
     r'found mmcv 1\.7\.2'),
])
def test_a_version_outside_every_range_is_named(monkeypatch, versions, match):
    fake_versions(monkeypatch, versions)
    with pytest.raises(ImportError, match=match):
        stack.check_stack()


def test_the_onedl_line_passes_by_its_distribution_names(monkeypatch):
    fake_versions(monkeypatch, {'onedl-mmcv': '2.3.6',
                                'onedl-mmengine': '0.10.12',
                                'onedl-mmsegmentation': '1.4.2rc1'})
    stack.check_stack()


def test_a_missing_package_is_named(monkeypatch):
    fake_versions(monkeypatch, dict(mmcv='2.1.0', mmsegmentation='1.2.2'))
    monkeypatch.setattr(stack.importlib, 'import_module',
                        lambda name: (_ for _ in ()).throw(ImportError(name)))
    with pytest.raises(ImportError, match='padseg needs mmengine: install '
                       'mmengine >=0.8.3,<1.0.0'):
        stack.check_stack()
