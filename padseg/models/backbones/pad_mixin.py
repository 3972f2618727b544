"""One way to put PAD into a backbone.

A PAD backbone is its vanilla backbone plus this mixin::

    @register_model
    class PADResNeSt(PADMixin, ResNeSt):

        def __init__(self, depth, stage_with_pad=(False, False, False, True),
                     pad_cfg=dict(dilations=(1, 2, 4)), **kwargs):
            super().__init__(depth=depth, **kwargs)   # the vanilla network
            self.add_pad(stage_with_pad, pad_cfg)

        def pad_stages(self):
            return [(name, getattr(self, name)) for name in self.res_layers]

The backbone file says only which modules are its stages; the rule of which
convs become PAD layers, and everything after, is here. A ``Pretrained``
checkpoint of the plain network loads through :class:`PretrainedMixin` (the
vanilla backbone's layout conversion, if any), and the log names the PAD
layers whose aggregation weights it lacks.
"""
from typing import List, Sequence, Tuple

from torch import nn

from padseg.ops import link_pad_chain
from ..utils import (PretrainedMixin, check_pad_cfg, check_stage_flags,
                     check_with_cp, pad_candidates, replace_with_pad)

__all__ = ['PADMixin']


class PADMixin(PretrainedMixin):
    """Turns the vanilla backbone it is mixed into into its PAD form.

    Put it first in the bases, build the vanilla network, then call
    :meth:`add_pad`. A subclass defines :meth:`pad_stages`; it may narrow
    :meth:`pad_candidates` (the default is the placement rule of the paper's
    appendix A: every plain stride-1 ``k x k`` conv with ``k >= 3``) and
    check a stage in :meth:`check_pad_stage`.
    """

    def pad_stages(self) -> List[Tuple[str, nn.Module]]:
        """``(name, module)`` of each stage, in forward order: one per flag
        of ``stage_with_pad``. A stage may be a container made for the
        purpose (e.g. an ``nn.ModuleList`` of the stage's blocks)."""
        raise NotImplementedError

    def pad_candidates(self, stage: nn.Module) -> List[str]:
        """Names (relative to ``stage``) of the convs that become PAD."""
        return pad_candidates(stage)

    def check_pad_stage(self, index: int, name: str) -> None:
        """Refuse a selected stage that cannot take PAD (e.g. another
        plug-in already took its convs); raise ``ValueError``."""

    def add_pad(self, stage_with_pad: Sequence[bool], pad_cfg: dict) -> None:
        """Swap the candidate convs of the selected stages for PAD layers,
        in one order:

        1. check ``stage_with_pad`` (one bool per stage) and ``pad_cfg``
           (:class:`padseg.ops.PADConv2d` settings);
        2. swap every candidate conv of each selected stage for a PAD layer
           with the conv's geometry, weight, bias and key, so the network
           starts as the vanilla one and its checkpoints load;
        3. refuse ``with_cp=True`` with an aggregation that carries the
           previous layer's prior;
        4. link all PAD layers into one chain, in forward order (section
           3.2);
        5. freeze the frozen stages again: they may hold new parameters.

        Sets ``self.stage_with_pad`` and ``self.pad_cfg``.

        Raises:
            ValueError: naming the argument that is wrong, or the stage that
                has no conv for PAD to replace.
        """
        stages = self.pad_stages()
        self.stage_with_pad = check_stage_flags(stage_with_pad, len(stages))
        self.pad_cfg = check_pad_cfg(pad_cfg)
        for index, ((name, stage), selected) in enumerate(
                zip(stages, self.stage_with_pad)):
            if not selected:
                continue
            self.check_pad_stage(index, name)
            candidates = self.pad_candidates(stage)
            if not candidates:
                raise ValueError(
                    f'stage_with_pad selects {name} (stage_with_pad[{index}]'
                    '), which has no plain stride-1 kxk (k >= 3) conv for '
                    'PAD to replace')
            for candidate in candidates:
                replace_with_pad(stage, candidate, self.pad_cfg)
        check_with_cp(self, getattr(self, 'with_cp', False))
        link_pad_chain(self)
        freeze = getattr(self, '_freeze_stages', None)
        if freeze is not None:
            freeze()
