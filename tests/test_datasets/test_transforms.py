"""``padseg.datasets.transforms``: the stock image and label-map loaders,
given the naming subclass, say which file they cannot read and why."""
import pytest
from helpers.reliability import (IMAGE_DAMAGE, damaged_copy,  # noqa: F401
                                 digits_dataset, trained)
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import LoadAnnotations

from padseg.datasets.transforms import name_unreadable_files
from padseg.errors import UnreadableFileError


@pytest.mark.parametrize('how', sorted(IMAGE_DAMAGE))
@pytest.mark.parametrize('kind', ['image', 'label map'])
def test_damaged_image_or_label_map_is_named(trained, tmp_path, kind, how):
    _, _, data_root = trained
    root, path = damaged_copy(data_root, tmp_path, kind, how)
    dataset = digits_dataset(root)
    assert name_unreadable_files(dataset) == 2
    dataset[0]  # the intact ones load
    error, what = IMAGE_DAMAGE[how]
    with pytest.raises(error) as info:
        dataset[2]
    assert f'{kind} {path}' in str(info.value) and what in str(info.value)


def test_stock_loaders_do_not_name_a_damaged_label_map(tmp_path):
    """Why the hook exists: the stock loaders hide the file; the same
    instances name it once name_unreadable_files has seen them, and keep
    their registered type name in the pipeline's config."""
    path = str(tmp_path / 'label.png')
    with open(path, 'wb') as f:
        f.write(b'not an image' * 20)
    results = dict(img_path=path, seg_map_path=path, reduce_zero_label=False,
                   seg_fields=[])
    with pytest.raises(Exception) as info:
        LoadAnnotations()(dict(results))
    assert path not in str(info.value)
    open(path, 'wb').close()
    with pytest.raises(Exception) as info:
        LoadImageFromFile()(dict(results))
    assert path not in str(info.value)
    loaders = [LoadAnnotations(), LoadImageFromFile()]
    assert name_unreadable_files(loaders) == 2
    assert name_unreadable_files(loaders) == 0  # already changed
    for loader in loaders:
        assert isinstance(loader, (LoadAnnotations, LoadImageFromFile))
        with pytest.raises(UnreadableFileError, match=path):
            loader(dict(results))
