"""Small helpers of padseg's hooks."""
from mmengine.model import is_model_wrapper
from torch import nn

__all__ = ['unwrap_model']


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP-style wrapper, or ``model`` itself."""
    return model.module if is_model_wrapper(model) else model
