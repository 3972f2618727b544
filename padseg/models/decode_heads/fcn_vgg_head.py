"""FCN-32s and FCN-8s decode heads (Long et al. 2015) for
:class:`~padseg.models.backbones.vgg.FCNVGG`.

The heads score fc7 (and pool4, pool3 for FCN-8s) with 1x1 convs and upsample
with transposed convs initialised to bilinear interpolation. With FCN's
100-pixel input padding the upsampled map is larger than the image;
:meth:`FCNVGGHead.crop_to_image` cuts the image out of it in ``loss_by_feat``
and ``predict_by_feat``, where the image size is known. The crop offsets are
derived from the backbone's geometry below (19 for FCN-32s; 5, 9 and 31 for
FCN-8s at ``input_padding=100``, the reference's values).
"""
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.utils import SampleList
from torch import Tensor, nn

from ..utils import register_model

__all__ = [
    'FCNVGGHead', 'FCN32sHead', 'FCN8sHead', 'BilinearDeconv',
    'bilinear_kernel', 'vgg_grid', 'upsampled_grid', 'grid_offset',
    'crop_or_pad'
]

#: ``(step, start)``: pixel ``i`` of a feature map is centred on image
#: coordinate ``step * i + start`` (the same along both axes).
Grid = Tuple[float, float]


def vgg_grid(stage: int, input_padding: int) -> Grid:
    """The grid of :class:`FCNVGG` stage ``stage`` (0..4: pool1..pool5,
    5: fc7).

    ``conv1_1`` (3x3, padding ``p``) centres output ``j`` on image pixel
    ``j + 1 - p``; the other 3x3 convs keep the centres; pool ``k`` covers
    ``2**k`` conv1 pixels; fc6 (7x7, no padding) centres output ``i`` on pool5
    pixel ``i + 3``.
    """
    step = 2**(min(stage, 4) + 1)
    start = (step - 1) / 2 + 1 - input_padding
    if stage == 5:
        start += 3 * step
    return step, start


def upsampled_grid(grid: Grid, factor: int) -> Grid:
    """The grid after a :class:`BilinearDeconv` by ``factor`` (kernel
    ``2 * factor``, stride ``factor``, no padding): output ``o`` is centred
    between its two nearest inputs, at input position
    ``(o - factor + 1/2) / factor``."""
    step, start = grid
    return step / factor, start + step * (1 / (2 * factor) - 1)


def grid_offset(grid: Grid, target: Grid) -> int:
    """Index in ``grid`` of ``target``'s pixel 0 (grids of equal step)."""
    offset = (target[1] - grid[1]) / grid[0]
    assert grid[0] == target[0] and offset == int(offset), (grid, target)
    return int(offset)


def crop_or_pad(x: Tensor, offset: int, size: Sequence[int]) -> Tensor:
    """``x[..., offset:offset + h, offset:offset + w]`` for ``size=(h, w)``.

    Where that window leaves ``x`` (only when the backbone pads its input by
    less than FCN's 100 pixels, so that no score reaches the image border),
    the nearest scores are repeated.
    """
    height, width = x.shape[-2:]
    before = max(0, -offset)
    after_h = max(0, offset + size[0] - height)
    after_w = max(0, offset + size[1] - width)
    if before or after_h or after_w:
        x = F.pad(x, (before, after_w, before, after_h), mode='replicate')
    top = offset + before
    return x[..., top:top + size[0], top:top + size[1]]


def bilinear_kernel(size: int) -> Tensor:
    """``size x size`` kernel of bilinear interpolation (FCN's
    ``upsample_filt``): with stride ``size // 2`` a transposed conv by it
    interpolates linearly between input pixels."""
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 else factor - 0.5
    distance = (torch.arange(size, dtype=torch.float32) - centre).abs()
    ramp = 1 - distance / factor
    return ramp[:, None] * ramp[None, :]


class BilinearDeconv(nn.ConvTranspose2d):
    """Upsampling by ``factor`` with a transposed conv (kernel
    ``2 * factor``, stride ``factor``, no bias) that starts as bilinear
    interpolation of each channel.

    Learnable, it mixes channels like the reference's deconvolutions
    (initialised with the bilinear kernel on the channel diagonal); fixed, it
    is per channel (``groups=channels``, the same map at a fraction of the
    cost) and its weight has ``requires_grad=False``.

    Args:
        channels (int): Input and output channels.
        factor (int): Upsampling factor.
        learnable (bool): Train the weight. Default: False.
    """

    def __init__(self, channels: int, factor: int,
                 learnable: bool = False) -> None:
        super().__init__(channels, channels, 2 * factor, stride=factor,
                         groups=1 if learnable else channels, bias=False)
        self.factor = factor
        self.weight.requires_grad_(learnable)
        self.init_weights()

    def init_weights(self) -> None:
        kernel = bilinear_kernel(2 * self.factor)
        with torch.no_grad():
            self.weight.zero_()
            if self.groups == 1:
                index = torch.arange(self.in_channels)
                self.weight[index, index] = kernel
            else:
                self.weight[:, 0] = kernel


class FCNVGGHead(BaseDecodeHead):
    """Base of the FCN heads: scores fc7 with ``conv_seg`` (FCN's
    ``score_fr``) and crops the upsampled scores to the image.

    ``forward`` returns the scores before the crop, larger than the image
    with FCN's padding; ``loss_by_feat`` and ``predict_by_feat`` crop them to
    the size of the labels and of the network input (padded batch or sliding
    window), so the head predicts exactly the input's size.

    Args:
        in_channels (int | Sequence[int]): Channels of the inputs; the last
            (or only) one is fc7's and is also ``channels``.
        input_padding (int): The backbone's ``input_padding``; the crop
            offsets follow from it. Default: 100.
        dropout_ratio (float): Dropout before ``conv_seg``. Default: 0, as
            the backbone's fc7 already ends in dropout.
        init_cfg (dict | list[dict]): Default: the score layers start at zero
            as in the reference.
        **kwargs: The other arguments of mmseg's ``BaseDecodeHead``
            (``num_classes``, ``in_index``, ``input_transform``,
            ``loss_decode``, ...). ``channels`` is fc7's width and is not set.
    """

    #: Score layers, zero at start-up as in the reference nets.
    score_layers: Tuple[str, ...] = ('conv_seg', )

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 input_padding: int = 100,
                 dropout_ratio: float = 0.,
                 init_cfg=None,
                 **kwargs) -> None:
        if not isinstance(input_padding, int) or input_padding < 0:
            raise ValueError(
                f'input_padding must be an int >= 0, got {input_padding!r}')
        fc7_channels = (
            in_channels[-1] if isinstance(in_channels, (list, tuple)) else
            in_channels)
        if init_cfg is None:
            init_cfg = dict(
                type='Constant', val=0,
                override=[dict(name=name) for name in self.score_layers])
        super().__init__(in_channels, fc7_channels,
                         dropout_ratio=dropout_ratio, init_cfg=init_cfg,
                         **kwargs)
        self.input_padding = input_padding

    @property
    def output_grid(self) -> Grid:
        """Grid of the map ``forward`` returns."""
        raise NotImplementedError

    @property
    def image_offset(self) -> int:
        """Index in ``forward``'s output of the image's pixel 0 (19 for
        FCN-32s, 31 for FCN-8s at ``input_padding=100``)."""
        return grid_offset(self.output_grid, (1, 0))

    def crop_to_image(self, seg_logits: Tensor, size: Sequence[int]) -> Tensor:
        """The part of ``forward``'s output that covers an input of
        ``size``."""
        return crop_or_pad(seg_logits, self.image_offset, size)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        size = batch_data_samples[0].gt_sem_seg.shape
        return super().loss_by_feat(self.crop_to_image(seg_logits, size),
                                    batch_data_samples)

    def predict_by_feat(self, seg_logits: Tensor,
                        batch_img_metas: List[dict]) -> Tensor:
        # The size mmseg's BaseDecodeHead resizes to: the sliding window's,
        # else the padded batch's.
        meta = batch_img_metas[0]
        if isinstance(meta['img_shape'], torch.Size):
            size = meta['img_shape']
        elif 'pad_shape' in meta:
            size = meta['pad_shape'][:2]
        else:
            size = meta['img_shape']
        return super().predict_by_feat(self.crop_to_image(seg_logits, size),
                                       batch_img_metas)


@register_model
class FCN32sHead(FCNVGGHead):
    """FCN-32s: ``conv_seg`` (``score_fr``) on fc7, then x32 bilinear
    upsampling (``upscore``), fixed by default as in the reference.

    Args:
        in_channels (int): fc7's channels. Default: 4096.
        in_index (int): fc7's index in the backbone's outputs. Default: -1.
        learnable_upsampling (bool): Train ``upscore``. Default: False.
        **kwargs: The arguments of :class:`FCNVGGHead` (``num_classes``,
            ``input_padding``, ``loss_decode``, ...).

    Example:
        >>> import torch
        >>> from padseg.models.decode_heads.fcn_vgg_head import FCN32sHead
        >>> head = FCN32sHead(in_channels=64, num_classes=21)
        >>> fc7 = torch.rand(1, 64, 3, 3)  # FCNVGG on a 64x64 image
        >>> scores = head([fc7])
        >>> head.crop_to_image(scores, (64, 64)).shape
        torch.Size([1, 21, 64, 64])
    """

    def __init__(self,
                 in_channels: int = 4096,
                 in_index: int = -1,
                 learnable_upsampling: bool = False,
                 **kwargs) -> None:
        if not isinstance(in_channels, int):
            raise ValueError(
                f'in_channels must be fc7\'s channels, an int, got '
                f'{in_channels!r}')
        super().__init__(in_channels, in_index=in_index, **kwargs)
        self.upscore = BilinearDeconv(self.out_channels, 32,
                                      learnable_upsampling)

    @property
    def output_grid(self) -> Grid:
        return upsampled_grid(vgg_grid(5, self.input_padding), 32)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        return self.upscore(self.cls_seg(self._transform_inputs(inputs)))


@register_model
class FCN8sHead(FCNVGGHead):
    """FCN-8s: scores of fc7 (``conv_seg``, FCN's ``score_fr``), pool4
    (``score_pool4``) and pool3 (``score_pool3``), fused after x2, x2 and
    followed by x8 upsampling (``upscore2``, ``upscore_pool4``,
    ``upscore8``).

    In "at once" mode (the paper's FCN-8s, trained in one step) pool4 and
    pool3 are scaled by 0.01 and 0.0001 before scoring, so the skips start
    small next to fc7's scores. As in the reference, the two x2 upsamplings
    learn and x8 stays bilinear.

    Args:
        in_channels (Sequence[int]): Channels of pool3, pool4 and fc7.
            Default: (256, 512, 4096).
        in_index (Sequence[int]): Their indices in the backbone's outputs.
            Default: (0, 1, 2).
        input_transform (str): Must be 'multiple_select'.
            Default: 'multiple_select'.
        at_once (bool): Scale pool4 by 0.01 and pool3 by 0.0001.
            Default: True.
        learnable_upsampling (Sequence[bool]): Train ``upscore2``,
            ``upscore_pool4``, ``upscore8``. Default: (True, True, False).
        **kwargs: The arguments of :class:`FCNVGGHead` (``num_classes``,
            ``input_padding``, ``loss_decode``, ...).

    Example:
        >>> import torch
        >>> from padseg.models.decode_heads.fcn_vgg_head import FCN8sHead
        >>> head = FCN8sHead(in_channels=(32, 64, 64), num_classes=21)
        >>> feats = [torch.rand(1, 32, 33, 33), torch.rand(1, 64, 17, 17),
        ...          torch.rand(1, 64, 3, 3)]  # FCNVGG on a 64x64 image
        >>> scores = head(feats)
        >>> head.crop_to_image(scores, (64, 64)).shape
        torch.Size([1, 21, 64, 64])
    """

    score_layers = ('conv_seg', 'score_pool4', 'score_pool3')
    #: "At once" scales of pool4 and pool3 (the reference's Scale layers).
    AT_ONCE_SCALES = (0.01, 0.0001)

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 4096),
                 in_index: Sequence[int] = (0, 1, 2),
                 input_transform: str = 'multiple_select',
                 at_once: bool = True,
                 learnable_upsampling: Sequence[bool] = (True, True, False),
                 **kwargs) -> None:
        if not (isinstance(in_channels, (list, tuple))
                and len(in_channels) == 3):
            raise ValueError('in_channels must be the channels of pool3, '
                             f'pool4 and fc7, got {in_channels!r}')
        if input_transform != 'multiple_select':
            raise ValueError('input_transform must be "multiple_select" '
                             f'(pool3, pool4, fc7), got {input_transform!r}')
        learnable_upsampling = tuple(learnable_upsampling)
        if len(learnable_upsampling) != 3:
            raise ValueError(
                'learnable_upsampling must be 3 bools (upscore2, '
                f'upscore_pool4, upscore8), got {learnable_upsampling!r}')
        super().__init__(in_channels, in_index=in_index,
                         input_transform=input_transform, **kwargs)
        self.at_once = at_once
        num_classes = self.out_channels
        self.score_pool4 = nn.Conv2d(in_channels[1], num_classes, 1)
        self.score_pool3 = nn.Conv2d(in_channels[0], num_classes, 1)
        self.upscore2 = BilinearDeconv(num_classes, 2, learnable_upsampling[0])
        self.upscore_pool4 = BilinearDeconv(num_classes, 2,
                                            learnable_upsampling[1])
        self.upscore8 = BilinearDeconv(num_classes, 8, learnable_upsampling[2])

    @property
    def skip_offsets(self) -> Tuple[int, int]:
        """Crop offsets of pool4's and pool3's scores (5 and 9, whatever the
        input padding)."""
        fused4 = upsampled_grid(vgg_grid(5, self.input_padding), 2)
        fused3 = upsampled_grid(fused4, 2)
        return (grid_offset(vgg_grid(3, self.input_padding), fused4),
                grid_offset(vgg_grid(2, self.input_padding), fused3))

    @property
    def output_grid(self) -> Grid:
        fused3 = upsampled_grid(
            upsampled_grid(vgg_grid(5, self.input_padding), 2), 2)
        return upsampled_grid(fused3, 8)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        pool3, pool4, fc7 = self._transform_inputs(inputs)
        if self.at_once:
            pool4 = pool4 * self.AT_ONCE_SCALES[0]
            pool3 = pool3 * self.AT_ONCE_SCALES[1]
        offset4, offset3 = self.skip_offsets
        score = self.upscore2(self.cls_seg(fc7))
        score = score + crop_or_pad(
            self.score_pool4(pool4), offset4, score.shape[-2:])
        score = self.upscore_pool4(score)
        score = score + crop_or_pad(
            self.score_pool3(pool3), offset3, score.shape[-2:])
        return self.upscore8(score)
