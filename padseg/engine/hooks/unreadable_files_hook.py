"""``UnreadableFilesHook``: the image and label-map loaders of a run name the
file they cannot read. See docs/reliability.md."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop

from padseg.datasets.transforms import name_unreadable_files

__all__ = ['UnreadableFilesHook']


@HOOKS.register_module()
class UnreadableFilesHook(Hook):
    """Make the image and label-map loaders of the run's datasets name a
    file they cannot read: missing, empty, or not decodable.

    The stock loaders say ``!buf.empty()`` (an empty image) or ``cannot
    identify image file <BytesIO>`` (a damaged label map) without the file.
    Before the run, this hook turns the built ``LoadImageFromFile`` and
    ``LoadAnnotations`` of the train, val and test dataloaders into
    subclasses that raise ``FileNotFoundError`` / :class:`UnreadableFileError`
    naming the file and what is wrong (:func:`name_unreadable_files`).
    Configs keep the stock type names, so every API that edits pipelines by
    type name (``inference_model``, ``MMSegInferencer``, mmpretrain's
    inferencers) still finds them.

    Example:
        >>> default_hooks = dict(unreadable_files=dict(
        ...     type='UnreadableFilesHook'))
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        for name in ('_train_loop', '_val_loop', '_test_loop'):
            loop = getattr(runner, name, None)
            if not isinstance(loop, BaseLoop):  # not built: not run
                continue
            changed = name_unreadable_files(loop.dataloader.dataset)
            iterator = getattr(loop, 'dataloader_iterator', None)
            if changed and iterator is not None and \
                    loop.dataloader.num_workers > 0:
                _restart_workers(loop)


def _restart_workers(loop) -> None:
    """Start the DataLoader workers of an iteration-based loop again.

    IterBasedTrainLoop starts its workers when it is built, before any hook
    runs, so they hold the dataset as it was. No batch has been taken yet;
    the new workers read the same indices from the start.
    """
    loader = loop.dataloader
    sampler = getattr(loader, 'sampler', None)
    if hasattr(sampler, '_indices_of_rank'):
        # mmengine's InfiniteSampler yields from one generator made when it
        # was built; closing the old iterator would close that generator
        # too. A new one, from the same seed, gives the same indices.
        sampler.indices = sampler._indices_of_rank()
    # With persistent workers the DataLoader keeps its iterator and would
    # only reset it (same workers): drop it, so that new workers start.
    loader._iterator = None
    loop.dataloader_iterator = type(loop.dataloader_iterator)(loader)
