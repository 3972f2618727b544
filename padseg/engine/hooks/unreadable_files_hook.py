"""``UnreadableFilesHook``: the image and label-map loaders of a run name the
file they cannot read. See docs/reliability.md."""
from mmengine.dataset import InfiniteSampler
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from torch.utils.data import DataLoader

from padseg.datasets.transforms import name_unreadable_files

__all__ = ['UnreadableFilesHook']


@HOOKS.register_module()
class UnreadableFilesHook(Hook):
    """Make the image and label-map loaders of the run's datasets name a
    file they cannot read: missing, empty, or not decodable.

    The stock loaders say ``!buf.empty()`` (an empty image) or ``cannot
    identify image file <BytesIO>`` (a damaged label map) without the file.
    Before each phase (train, val, test), this hook turns the built
    ``LoadImageFromFile`` and ``LoadAnnotations`` of that phase's dataloader
    into subclasses that raise ``FileNotFoundError`` / :class:`UnreadableFileError`
    naming the file and what is wrong (:func:`name_unreadable_files`).
    Configs keep the stock type names, so every API that edits pipelines by
    type name (``inference_model``, ``MMSegInferencer``, mmpretrain's
    inferencers) still finds them.

    Example:
        >>> default_hooks = dict(unreadable_files=dict(
        ...     type='UnreadableFilesHook'))
    """

    priority = 'VERY_HIGH'

    # Each loop in its own phase, through the Runner's public properties
    # (built by then: asking for a loop that is not built would build it).
    def before_train(self, runner) -> None:
        _name_files(runner.train_loop)

    def before_val(self, runner) -> None:
        _name_files(runner.val_loop)

    def before_test(self, runner) -> None:
        _name_files(runner.test_loop)


def _name_files(loop) -> None:
    if not isinstance(getattr(loop, 'dataloader', None), DataLoader):
        return
    changed = name_unreadable_files(loop.dataloader.dataset)
    iterator = getattr(loop, 'dataloader_iterator', None)
    if changed and iterator is not None and loop.dataloader.num_workers > 0:
        _restart_workers(loop)


def _restart_workers(loop) -> None:
    """Start the DataLoader workers of an iteration-based loop again.

    ``IterBasedTrainLoop`` starts its workers when it is built, before any
    hook runs, so they hold the dataset as it was. No batch has been taken
    yet; the new workers read the same indices from the start. Two private
    names stay here because no public API restarts a DataLoader's workers
    (the tests run on PyTorch 2.x with MMEngine 0.10.7 and onedl-mmengine
    0.10.12; a release without them gets a clear error, not a silent run
    without named files):

    * torch's ``DataLoader._iterator``: with persistent workers the loader
      keeps its iterator and would only reset it (same workers); dropping it
      starts new ones;
    * MMEngine's ``InfiniteSampler._indices_of_rank()``: the sampler yields
      from one generator made when it was built, and dropping the old
      iterator closes that generator too; a new one from the same seed
      gives the same indices.
    """
    loader = loop.dataloader
    sampler = getattr(loader, 'sampler', None)
    if isinstance(sampler, InfiniteSampler):
        if not callable(getattr(sampler, '_indices_of_rank', None)):
            raise RuntimeError(
                'UnreadableFilesHook: this MMEngine\'s InfiniteSampler has '
                'no _indices_of_rank(); set num_workers=0 or remove the hook')
        sampler.indices = sampler._indices_of_rank()
    if not hasattr(loader, '_iterator'):
        raise RuntimeError(
            'UnreadableFilesHook: this PyTorch\'s DataLoader has no _iterator '
            'to restart its workers with; set num_workers=0 or remove the '
            'hook')
    loader._iterator = None
    loop.dataloader_iterator = type(loop.dataloader_iterator)(loader)
