"""``DilationLoggerHook``: the dilations PAD layers draw while a model
trains, logged."""
from contextlib import ExitStack
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from padseg.analysis import (Sample, draw_statistics, law_entropy,
                             load_samples)
from padseg.ops import PADConv2d, pad_layers, record_dilations
from ..utils import unwrap_model

__all__ = ['DilationLoggerHook']


@HOOKS.register_module()
class DilationLoggerHook(Hook):
    """Every ``interval`` training iterations and at the last one, log per
    PAD layer the dilations it drew in that iteration (the argmax of each
    Gumbel-softmax sample, eq. 2):

    * ``train/pad/<layer>/mean_dilation``: their mean over the batch's pixels;
    * ``train/pad/<layer>/variance``: their variance over the batch's pixels
      (a one-draw estimate of sigma^2(d_ij), see docs/analysis.md);
    * ``train/pad/<layer>/share_d<d>``: the share of pixels that drew ``d``;
    * ``train/pad/<layer>/entropy``: the mean over the batch's pixels of the
      entropy (nats) of the law ``softmax(h)`` the draws come from: ``log D``
      while every candidate is equally likely, towards 0 as the layer
      becomes sure of a dilation;
    * ``train/pad/<layer>/prior_grad_norm``: the norm of the loss's gradient
      with respect to the layer's hidden prior ``h`` over the batch (what
      trains the aggregation; near 0, the layer has stopped learning its
      dilations).

    The values go to the message hub, so the logger prints them and every
    visualiser backend (TensorBoard, ...) records them. Dilations are the
    layers' actual ones. Recording is on only during the logged iterations.

    Args:
        interval (int): Log every ``interval`` iterations. Default: 50.
        log_image (bool): Also add, at the same iterations, an image of the
            expected dilation and the argmax choice of every PAD layer on one
            validation image (eval mode) with ``runner.visualizer.add_image``.
            Default: False.
        image_index (int): Index of that image in the val dataset. Default: 0.

    Example:
        >>> custom_hooks = [dict(type='DilationLoggerHook', interval=50)]
    """

    priority = 'NORMAL'  # before LoggerHook, which prints these iterations

    def __init__(self,
                 interval: int = 50,
                 log_image: bool = False,
                 image_index: int = 0) -> None:
        if not isinstance(interval, int) or isinstance(
                interval, bool) or interval <= 0:
            raise ValueError(
                f'interval must be a positive int, got {interval!r}')
        if not isinstance(log_image, bool):
            raise ValueError(f'log_image must be a bool, got {log_image!r}')
        if not isinstance(image_index, int) or image_index < 0:
            raise ValueError(
                f'image_index must be an int >= 0, got {image_index!r}')
        self.interval = interval
        self.log_image = log_image
        self.image_index = image_index
        self._recording: Optional[ExitStack] = None
        self._layers: Dict[str, PADConv2d] = {}
        self._sample: Optional[Sample] = None

    def before_train(self, runner) -> None:
        if not any(True for _ in pad_layers(unwrap_model(runner.model))):
            raise RuntimeError(
                'DilationLoggerHook is configured but the model has no PAD '
                'layer')
        if self.log_image:
            self._sample = load_samples(runner.cfg, 'val',
                                        indices=[self.image_index])[0]

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        # and the last iteration: the shares a run ends with
        if (self.every_n_train_iters(runner, self.interval)
                or self.is_last_train_iter(runner)):
            self._recording = ExitStack()
            self._layers = self._recording.enter_context(
                record_dilations(unwrap_model(runner.model)))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if self._recording is None:
            return
        try:
            for name, layer in self._layers.items():
                if layer.last_probs is None:  # did not run this iteration
                    continue
                stats = draw_statistics(layer, layer.last_probs)
                stats['entropy'] = law_entropy(layer.last_prior).mean().item()
                if layer.last_prior_grad is not None:
                    stats['prior_grad_norm'] = layer.last_prior_grad.norm(
                    ).item()
                for key, value in stats.items():
                    runner.message_hub.update_scalar(
                        f'train/pad/{name}/{key}', value)
        finally:
            self._stop_recording()
        if self.log_image:
            runner.visualizer.add_image('pad_dilation_map',
                                        self._dilation_image(runner),
                                        step=runner.iter + 1)

    def _stop_recording(self) -> None:
        if self._recording is not None:
            self._recording.close()
        self._recording = None
        self._layers = {}

    def _dilation_image(self, runner):
        from padseg.analysis.visualize import (draw_dilation_maps,
                                               figure_to_rgb)
        return figure_to_rgb(
            draw_dilation_maps(unwrap_model(runner.model), self._sample))
