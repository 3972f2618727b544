"""Vanilla and PAD backbones, registered in mmseg's and mmpretrain's MODELS.

Vanilla forms that mmseg lacks: ``FCNVGG``, ``DRN``, ``Xception65``; PAD
forms: ``PADVGG``, ``PADResNet``, ``PADResNetV1c``, ``PADDRN``,
``PADXception``, ``PADMobileNetV2`` (vanilla ResNet and MobileNetV2 are
mmseg's own); and ``PADBackbone``, PAD in any registered backbone by the
names of its convolutions. Each PAD form is its vanilla backbone plus
:class:`PADMixin`, which says in one place how PAD enters."""
from ..freeze import FrozenPADBackbone
from .drn import DRN, PADDRN
from .mobilenet_v2 import PADMobileNetV2
from .pad_backbone import PADBackbone
from .pad_mixin import PADMixin
from .resnet import PADResNet, PADResNetV1c
from .vgg import FCNVGG, PADVGG
from .xception import PADXception, Xception65

try:  # mmpretrain is optional: classification only
    from .mobilenet_v2_classifier import PADMobileNetV2Classifier
except ImportError:
    PADMobileNetV2Classifier = None

__all__ = [
    'FCNVGG', 'PADVGG', 'PADResNet', 'PADResNetV1c', 'DRN', 'PADDRN',
    'Xception65', 'PADXception', 'PADMobileNetV2', 'PADMixin', 'PADBackbone',
    'PADMobileNetV2Classifier', 'FrozenPADBackbone'
]
