"""Analysis of PAD models: dilation maps and statistics, receptive fields,
activation maps, model cost. Plain functions on models and tensors; the
command-line tools in ``tools/analysis/`` and ``DilationLoggerHook`` are thin
wrappers around them. See docs/analysis.md."""
from .activation import activation_map, default_layer
from .cost import model_cost, pad_parameter_count
from .data import (SPLITS, Sample, load_model, load_samples, preprocess,
                   run_model)
from .dilation import (DilationStatistics, candidate_values, dilation_law,
                       dilation_maps, draw_statistics, law_entropy,
                       record_priors)
from .object_size import (SizeCorrelation, label_of, object_areas,
                          object_overlap_by_size, size_bin_names,
                          size_correlation)
from .receptive_field import (centre_unit, effective_receptive_field,
                              erf_centre, erf_radius, layer_output,
                              receptive_field_extent,
                              theoretical_receptive_field)

__all__ = [
    'record_priors', 'dilation_law', 'law_entropy', 'dilation_maps',
    'candidate_values',
    'draw_statistics', 'DilationStatistics', 'layer_output', 'centre_unit',
    'theoretical_receptive_field', 'effective_receptive_field',
    'receptive_field_extent', 'erf_centre', 'erf_radius', 'activation_map',
    'default_layer', 'model_cost', 'pad_parameter_count', 'Sample',
    'load_model', 'load_samples', 'preprocess', 'run_model', 'SPLITS',
    'object_areas', 'SizeCorrelation', 'size_correlation', 'label_of',
    'object_overlap_by_size', 'size_bin_names'
]
