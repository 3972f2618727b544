"""PAD form of mmpretrain's MobileNetV2, for classification (needs
mmpretrain). Under the mmpretrain scope ``PADMobileNetV2`` builds it, as
``MobileNetV2`` builds mmpretrain's own there."""
from mmpretrain.models.backbones import MobileNetV2
from mmpretrain.registry import MODELS

from .mobilenet_v2 import MobileNetV2PADMixin

__all__ = ['PADMobileNetV2Classifier']


@MODELS.register_module(name='PADMobileNetV2')
class PADMobileNetV2Classifier(MobileNetV2PADMixin, MobileNetV2):
    """mmpretrain's MobileNetV2 (Sandler et al.: the inverted residual
    stages and the final 1x1 conv to 1280 channels, ``conv2``) with PAD
    layers; ``type='PADMobileNetV2'`` under the mmpretrain scope.

    Same placement rule, ``stage_with_pad`` and ``pad_cfg`` as
    :class:`~padseg.models.backbones.mobilenet_v2.PADMobileNetV2` (default:
    the 160- and 320-channel stages; Table 9 puts PAD into layer3); every
    other argument is mmpretrain's (``widen_factor``, ``out_indices``, by
    default ``(7, )``: the 1280 channels of ``conv2``, ``frozen_stages``,
    ...). mmpretrain's ImageNet checkpoint loads whole, ``conv2`` included;
    a torchvision checkpoint is converted on load. At ``widen_factor=1.0``
    with a 1000-class linear head the classifier has 3.5M parameters, as in
    Table 6.

    Example:
        >>> import torch
        >>> from padseg.models.backbones import PADMobileNetV2Classifier
        >>> model = PADMobileNetV2Classifier(
        ...     stage_with_pad=(False, False, True) + (False, ) * 4).eval()
        >>> tuple(model(torch.rand(1, 3, 64, 64))[0].shape)
        (1, 1280, 2, 2)
    """
