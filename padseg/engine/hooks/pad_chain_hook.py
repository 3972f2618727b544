"""``PADChainHook``: links the PAD layers that no padseg backbone linked."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from padseg.ops import link_pad_chain
from ..utils import unwrap_model

__all__ = ['PADChainHook']


@HOOKS.register_module()
class PADChainHook(Hook):
    """Link the PAD layers that no padseg backbone linked (those built through
    ``dcn=``/``conv_cfg`` in stock mmseg/mmpretrain models) into one chain
    over the whole model, so recurrent and gated aggregations see the prior of
    the previous PAD layer.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        link_pad_chain(unwrap_model(runner.model), only_unlinked=True)
