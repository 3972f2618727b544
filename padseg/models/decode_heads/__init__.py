"""Decode heads: the original FCN-32s / FCN-8s score fusion for VGG-16."""
from .fcn_vgg_head import FCN8sHead, FCN32sHead

__all__ = ['FCN8sHead', 'FCN32sHead']
