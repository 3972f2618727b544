"""The whole-network part of ``benchmarks/gpu_check.py``: ResNet + DeepLabV3+
in plain PyTorch and torchvision, for a GPU machine without mmseg.

The backbone is torchvision's ResNet at output stride 8 (dilated layer3 and
layer4, as mmseg's ``ResNetV1c``-D8 configs; torchvision's stem is the plain
7x7 one). The head follows mmseg's ``DepthwiseSeparableASPPHead`` as the
DeepLabV3+ configs set it (ASPP rates 1, 12, 24, 36 with an image pool,
512 channels, a 48-channel skip from layer1, two depthwise-separable 3x3
convolutions) plus the configs' auxiliary ``FCNHead`` on layer3 (loss weight
0.4). The PAD network turns the 3x3 convolution of every layer4 block into a
Markov PAD layer with candidates (1, 2, 4) (``stage_with_pad`` on layer4),
keeping the regular network's weights, and gives the priors random weights
so that every candidate wins a share of the pixels.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet


def conv_bn_relu(cin, cout, kernel=1, dilation=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=dilation * (kernel // 2),
                  dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def separable(cin, cout, dilation=1):
    """mmcv's DepthwiseSeparableConvModule: depthwise 3x3, pointwise 1x1."""
    return nn.Sequential(conv_bn_relu(cin, cin, 3, dilation, groups=cin),
                         conv_bn_relu(cin, cout))


class DeepLabV3PlusHead(nn.Module):

    def __init__(self, in_channels=2048, c1_in_channels=256, channels=512,
                 c1_channels=48, dilations=(1, 12, 24, 36), num_classes=21):
        super().__init__()
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                        conv_bn_relu(in_channels, channels))
        self.aspp = nn.ModuleList(
            [conv_bn_relu(in_channels, channels)] +
            [separable(in_channels, channels, d) for d in dilations[1:]])
        self.bottleneck = conv_bn_relu((len(dilations) + 1) * channels,
                                       channels, 3)
        self.c1_bottleneck = conv_bn_relu(c1_in_channels, c1_channels)
        self.sep_bottleneck = nn.Sequential(
            separable(channels + c1_channels, channels),
            separable(channels, channels))
        self.cls = nn.Conv2d(channels, num_classes, 1)

    def forward(self, c1, c4):
        pooled = F.interpolate(self.image_pool(c4), size=c4.shape[2:],
                               mode='bilinear', align_corners=False)
        x = self.bottleneck(torch.cat([pooled] +
                                      [branch(c4) for branch in self.aspp], 1))
        x = F.interpolate(x, size=c1.shape[2:], mode='bilinear',
                          align_corners=False)
        x = torch.cat([x, self.c1_bottleneck(c1)], 1)
        return self.cls(self.sep_bottleneck(x))


class Segmentor(nn.Module):
    """Backbone, DeepLabV3+ head and auxiliary FCN head; ``loss`` as mmseg's
    (logits resized to the labels, cross-entropy, ignore index 255)."""

    def __init__(self, depth_blocks, width_per_group=64, num_classes=21):
        super().__init__()
        self.backbone = ResNet(Bottleneck, depth_blocks,
                               width_per_group=width_per_group,
                               replace_stride_with_dilation=[False, True,
                                                             True])
        del self.backbone.fc
        self.decode_head = DeepLabV3PlusHead(num_classes=num_classes)
        self.auxiliary_head = nn.Sequential(conv_bn_relu(1024, 256, 3),
                                            nn.Dropout2d(0.1),
                                            nn.Conv2d(256, num_classes, 1))

    def features(self, x):
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        c1 = b.layer1(x)
        c3 = b.layer3(b.layer2(c1))
        return c1, c3, b.layer4(c3)

    def forward(self, x):
        c1, _, c4 = self.features(x)
        return F.interpolate(self.decode_head(c1, c4), size=x.shape[2:],
                             mode='bilinear', align_corners=False)

    def loss(self, x, labels):
        c1, c3, c4 = self.features(x)
        total = 0
        for logits, weight in ((self.decode_head(c1, c4), 1.0),
                               (self.auxiliary_head(c3), 0.4)):
            logits = F.interpolate(logits, size=labels.shape[1:],
                                   mode='bilinear', align_corners=False)
            total = total + weight * F.cross_entropy(
                logits.float(), labels, ignore_index=255)
        return total


def pad_layer4(model, pad_conv_class, link_pad_chain):
    """Each layer4 block's 3x3 convolution as a Markov PAD layer (weights
    kept), the layers linked in order, priors random."""
    for block in model.backbone.layer4:
        conv = block.conv2
        pad = pad_conv_class(conv.in_channels, conv.out_channels, 3,
                             stride=conv.stride, padding=conv.padding,
                             dilation=conv.dilation, bias=False,
                             dilations=(1, 2, 4), aggregation='markov')
        with torch.no_grad():
            pad.weight.copy_(conv.weight)
            for name, param in pad.aggregation.named_parameters():
                param.normal_(0, param.shape[-1]**-0.5 if param.dim() > 1
                              else 0.5)
        block.conv2 = pad
    link_pad_chain(model.backbone)
    return model


def build_pair(small: bool, pad_conv_class, link_pad_chain):
    """The regular network and its PAD twin (same weights): ResNet-101, or
    in the small mode a one-block-per-stage ResNet of an eighth of the
    width."""
    blocks, width = ([1, 1, 1, 1], 8) if small else ([3, 4, 23, 3], 64)
    torch.manual_seed(0)
    regular = Segmentor(blocks, width)
    pad = Segmentor(blocks, width)
    pad.load_state_dict(regular.state_dict())
    return regular, pad_layer4(pad, pad_conv_class, link_pad_chain)
