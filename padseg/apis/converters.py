"""What the checkpoint converters in ``tools/model_converters/`` share:
read a checkpoint in a public layout, convert its keys with the backbone's
own converter (the one its ``init_cfg=dict(type='Pretrained', ...)`` uses)
and write the result atomically."""
import argparse
import io
import os.path as osp
from typing import Callable, Dict, List, Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader
from mmengine.utils import mkdir_or_exist

from padseg.engine.checkpoint import (install_checkpoint_guards,
                                      write_atomically)

__all__ = ['read_state_dict', 'convert_checkpoint_file', 'converter_main']


def read_state_dict(src: str) -> Dict[str, torch.Tensor]:
    """The tensors of checkpoint ``src`` (path or URL; ``.safetensors`` when
    the safetensors package is installed), unwrapped from a ``state_dict`` or
    ``model`` entry."""
    if src.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise SystemExit(f'reading {src} needs `pip install safetensors`')
        return load_file(src)
    checkpoint = CheckpointLoader.load_checkpoint(src, map_location='cpu')
    for wrapper in ('state_dict', 'model'):
        if isinstance(checkpoint.get(wrapper), dict):
            return checkpoint[wrapper]
    return checkpoint


def convert_checkpoint_file(src: str, dst: str,
                            convert: Callable[[Dict], Dict]) -> Dict:
    """Convert checkpoint ``src`` with ``convert`` and save the state dict
    to ``dst`` (folders created; never half-written). Returns it."""
    install_checkpoint_guards()
    state_dict = convert(read_state_dict(src))
    mkdir_or_exist(osp.dirname(osp.abspath(dst)))
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    write_atomically(dst, buffer.getvalue())
    print(f'saved {len(state_dict)} tensors to {dst}')
    return state_dict


def converter_main(doc: str, convert: Callable[[Dict], Dict],
                   argv: Optional[List[str]] = None) -> None:
    """The command line of a converter script: ``SRC DST``."""
    parser = argparse.ArgumentParser(
        description=doc.strip().splitlines()[0],
        epilog=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='checkpoint to convert (path or URL)')
    parser.add_argument('dst', help='where to save the converted state dict')
    args = parser.parse_args(argv)
    convert_checkpoint_file(args.src, args.dst, convert)
