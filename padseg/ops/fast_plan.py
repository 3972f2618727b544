"""The plan of the columns paths (:mod:`padseg.ops.fast_paths`): sizes, the
padded channels-last input's shape, where each candidate's taps read in it,
and the chunks of the output with their buffers. It plans; it computes
nothing (the passes are :mod:`padseg.ops.column_ops`'s).

The input is padded once, for the largest candidate, and stored
channels-last, ``(N, Hp, Wp, C)``. Candidate ``k``'s columns of a chunk,
``U_k``, are then a strided view of it (an im2col without a copy), ``(B, R,
W_out, KH, KW, C)`` for images ``[n0, n1)`` and output rows ``[r0, r1)``.
"""
import functools
from typing import Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .geometry import Pair, tap_offsets

__all__ = ['Plan', 'Chunk']

#: A chunk's column buffer holds at most this many bytes on the CPU (and,
#: with autograd, at most as much as the input) ...
_CHUNK_BYTES = 1 << 22
#: ... unless that is fewer output pixels than this: fewer, larger chunks
#: run faster (fewer small operations), and at C = 128 a training step then
#: needs about 1.8x a plain convolution's memory (docs/benchmarks.md).
_CHUNK_PIXELS = 384
#: On a GPU a chunk's column buffer holds at most this many bytes: few
#: chunks (each pass over a chunk is one launch per operation), bounded
#: memory.
_GPU_CHUNK_BYTES = 1 << 28

#: Images ``[n0, n1)``, output rows ``[r0, r1)`` (all rows when
#: ``n1 - n0 > 1``).
Chunk = Tuple[int, int, int, int]


class Plan:
    """Geometry shared by the paths; made by :meth:`of`, kept per geometry.

    Candidate ``k`` reads tap ``(a, b)`` of output pixel ``(i, j)`` at input
    position ``(i * sh + a * dh_k - ph_k, j * sw + b * dw_k - pw_k)``; the
    padded input moves it by ``(top, left)``, the largest candidate padding.
    A chunk's column buffer holds ``budget`` bytes (or ``min_pixels``
    output pixels if that is more): whole images while they fit (never more
    than one with ``per_image``), else rows of one image.
    """

    def __init__(self, in_shape: Tuple[int, ...],
                 weight_shape: Tuple[int, ...], itemsize: int,
                 device: torch.device, out_size: Pair, stride: Pair,
                 paddings: Tuple[Pair, ...], dilations: Tuple[Pair, ...],
                 groups: int, budget: int, min_pixels: int,
                 per_image: bool) -> None:
        n, c, h, w = in_shape
        o, _, kh, kw = weight_shape
        ho, wo = out_size
        self.batch, self.in_channels, self.out_channels = n, c, o
        self.in_size, self.out_size = (h, w), (ho, wo)
        self.device = device
        self.kernel, self.taps = (kh, kw), kh * kw
        self.stride, self.groups = stride, groups
        self.dilations, self.paddings = list(dilations), list(paddings)
        self.top = max(p[0] for p in paddings)
        self.left = max(p[1] for p in paddings)
        reach_h = max((ho - 1) * stride[0] + (kh - 1) * dh - ph
                      for (ph, _), (dh, _) in zip(paddings, dilations))
        reach_w = max((wo - 1) * stride[1] + (kw - 1) * dw - pw
                      for (_, pw), (_, dw) in zip(paddings, dilations))
        self.padded = (self.top + max(reach_h + 1, h),
                       self.left + max(reach_w + 1, w))
        pixels = max(min_pixels, budget // (self.taps * c * itemsize))
        images = 1 if per_image else max(1, min(n, pixels // (ho * wo)))
        self.images_per_chunk = images
        rows = max(1, min(ho, -(-pixels // wo)))
        # As many chunks as that needs, of balanced heights.
        self.rows_per_chunk = -(-ho // -(-ho // rows))
        self.row_offsets, self.col_offsets = tap_offsets(
            self.kernel, self.paddings, self.dilations, device)
        # The padded input's channels-last row (pixel) that each candidate's
        # tap reads, from the output pixel's window origin, ``(D, KH*KW)``.
        self.tap_rows = (self.row_offsets[:, :, None] * self.padded[1] +
                         self.col_offsets[:, None, :]).view(len(dilations),
                                                            -1)
        self.offsets = self.tap_rows * c  # in values, for the C++ kernels

    @staticmethod
    def of(x: Tensor, weight: Tensor, out_size: Pair, stride: Pair,
           paddings: Sequence[Pair], dilations: Sequence[Pair], groups: int,
           bounded_by_input: bool = True, per_image: bool = False) -> 'Plan':
        """The plan of these tensors' geometry. Plans are kept (read only)
        and reused: building one takes about 0.1 ms, a few per cent of a
        small layer's evaluation. ``bounded_by_input``: on the CPU, chunk
        buffers no larger than the input (with autograd); ``per_image``:
        one image per chunk (the compiled kernels' calls)."""
        if x.device.type == 'cpu':
            budget = _CHUNK_BYTES
            if bounded_by_input:
                budget = min(budget, x.numel() * x.element_size())
        else:
            budget = _GPU_CHUNK_BYTES
        return _kept_plan(tuple(x.shape), tuple(weight.shape),
                          x.element_size(), x.device, tuple(out_size),
                          tuple(stride), tuple(map(tuple, paddings)),
                          tuple(map(tuple, dilations)), groups, budget,
                          _CHUNK_PIXELS, per_image)

    @property
    def placement(self) -> Tuple[int, int, int, int]:
        """``(sh, sw, top, left)``: where output pixels read in the padded
        input, for the compiled kernels."""
        return (*self.stride, self.top, self.left)

    def chunks(self) -> Iterator[Chunk]:
        """``(n0, n1, r0, r1)`` of each chunk of the output."""
        ho = self.out_size[0]
        if self.images_per_chunk > 1 or self.rows_per_chunk >= ho:
            step = self.images_per_chunk
            for n0 in range(0, self.batch, step):
                yield n0, min(n0 + step, self.batch), 0, ho
            return
        for n in range(self.batch):
            for r0 in range(0, ho, self.rows_per_chunk):
                yield n, n + 1, r0, min(r0 + self.rows_per_chunk, ho)

    def pixels(self, chunk: Chunk) -> int:
        n0, n1, r0, r1 = chunk
        return (n1 - n0) * (r1 - r0) * self.out_size[1]

    def buffer(self, like: Tensor, channels: int,
               dtype: Optional[torch.dtype] = None) -> Tensor:
        """Room for the largest chunk with ``channels`` values per output
        pixel."""
        most = max(self.images_per_chunk * self.out_size[0],
                   self.rows_per_chunk) * self.out_size[1]
        return like.new_empty(most * channels, dtype=dtype)

    def chunk_view(self, buffer: Tensor, chunk: Chunk) -> Tensor:
        """The start of ``buffer`` as one chunk's columns ``(B, R, W_out,
        KH, KW, C)``."""
        n0, n1, r0, r1 = chunk
        shape = (n1 - n0, r1 - r0, self.out_size[1], *self.kernel,
                 self.in_channels)
        return buffer[:self.pixels(chunk) * self.taps *
                      self.in_channels].view(shape)

    def columns(self, xp: Tensor, k: int, chunk: Chunk) -> Tensor:
        """``U_k`` of a chunk: a view ``(B, R, W_out, KH, KW, C)`` of the
        padded input ``xp`` (or of anything of its shape)."""
        n0, n1, r0, r1 = chunk
        _, hp, wp, c = xp.shape
        (sh, sw), (dh, dw) = self.stride, self.dilations[k]
        row = self.top - self.paddings[k][0] + r0 * sh
        col = self.left - self.paddings[k][1]
        return xp.as_strided(
            (n1 - n0, r1 - r0, self.out_size[1], *self.kernel, c),
            (hp * wp * c, sh * wp * c, sw * c, dh * wp * c, dw * c, 1),
            xp.storage_offset() + ((n0 * hp + row) * wp + col) * c)

    def tap(self, xp: Tensor, k: int, a: int, b: int,
            chunk: Chunk) -> Tensor:
        """What tap ``(a, b)`` of candidate ``k`` reads for a chunk, ``(B,
        R, W_out, C)``: distinct values of ``xp`` (strides >= 1), so a
        gradient can be added into it."""
        return self.columns(xp, k, chunk)[:, :, :, a, b]

    def window_rows(self, chunk: Chunk) -> Tensor:
        """The padded input's channels-last row (``xp.view(-1, C)``) of each
        output pixel's window origin, ``(B, R, W_out)``, int64: add
        :attr:`tap_rows` for a candidate's taps."""
        n0, n1, r0, r1 = chunk
        (hp, wp), (sh, sw) = self.padded, self.stride
        kw = dict(dtype=torch.int64, device=self.device)
        images = torch.arange(n0, n1, **kw) * (hp * wp)
        rows = (torch.arange(r0, r1, **kw) * sh + self.top) * wp
        cols = torch.arange(self.out_size[1], **kw) * sw + self.left
        return images[:, None, None] + rows[None, :, None] + cols


_kept_plan = functools.lru_cache(maxsize=32)(Plan)
