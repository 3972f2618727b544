"""Read back what a checkpoint load logged, from mmengine's loader
(``load_state_dict``: 'missing keys in source state_dict: ...') or from
padseg's (``padseg.models.utils.log_checkpoint_keys``)."""
import ast
import logging
import re
from typing import Iterable, List, Sequence, Union

Records = Union[Iterable[logging.LogRecord], Iterable[str]]


def aggregation_keys(names: Iterable[str],
                     params: Sequence[str] = ('u_h', 'u_h_bias')) -> List[str]:
    """State-dict keys of the aggregation weights (Markov's by default) of
    the PAD layers ``names``."""
    return [
        f'{name}.aggregation.{param}' for name in names for param in params
    ]


def logged_keys(records: Records, kind: str) -> List[str]:
    """The keys the log reports as ``kind``, 'missing' or 'unexpected':
    mmengine's lines, padseg's info line on PAD layers without aggregation
    weights (as Markov keys) and padseg's mismatch warning."""
    text = '\n'.join(
        r if isinstance(r, str) else r.getMessage() for r in records)
    head = {'missing': 'missing keys', 'unexpected': 'unexpected key'}[kind]
    keys = [
        key for line in re.findall(rf'^{head} in source state_dict: (.*)$',
                                   text, re.M) for key in line.split(', ')
    ]
    if kind == 'missing':
        for layers in re.findall(r'no PAD aggregation weights for \d+ PAD '
                                 r'layers \(([^)]*)\)', text):
            keys += aggregation_keys(layers.split(', '))
    for mismatch in re.findall(r'does not match the model: missing '
                               r'(\[.*?\]), unexpected (\[.*?\])$', text,
                               re.M):
        keys += ast.literal_eval(mismatch[0 if kind == 'missing' else 1])
    return keys
