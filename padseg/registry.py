"""The ``padseg`` registry scope, for configs that inherit padseg's configs
as ``_base_ = 'padseg::<path under configs/>'``.

MMEngine builds every object that an external base config declares in the
scope of the base's package (``_scope_='padseg'``), and looks for that
scope's registries under ``padseg.registry``. Each registry here is a child
of mmseg's registry of the same kind with no entries of its own, so a
``padseg``-scope build finds mmseg's names, the mmengine/mmcv ones above
them, and padseg's (registered in mmseg's and the root registries) exactly
as the ``mmseg`` scope does. MMPretrain configs keep ``default_scope =
'mmpretrain'`` and are inherited by path (one package, one scope:
MMEngine's rule; see docs/install.md).

It also holds :func:`task_scope`: which of the two scopes padseg serves a
config runs under.

Importing this module also tells MMEngine that ``padseg::`` names an
installed package (its ``MODULE2PACKAGE`` table), which it must know before
it reads a config that names one: a program reads such a config after
``import padseg``.
"""
from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import Registry
from mmseg import registry as mmseg_registry

__all__ = list(mmseg_registry.__all__) + ['SCOPES', 'task_scope']

MODULE2PACKAGE.setdefault('padseg', 'padseg')

for _name in mmseg_registry.__all__:
    _parent = getattr(mmseg_registry, _name)
    globals()[_name] = (_parent._children.get('padseg') or Registry(
        _parent.name, parent=_parent, scope='padseg'))


SCOPES = ('mmseg', 'mmpretrain')


def task_scope(cfg: Config) -> str:
    """``'mmseg'`` or ``'mmpretrain'``, from the config's ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(
            f'default_scope must be one of {SCOPES} (it selects the task), '
            f'got {scope!r}; set it in the config or inherit a padseg base')
    return scope
