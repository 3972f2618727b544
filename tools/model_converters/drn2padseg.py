"""Convert a reference DRN checkpoint (github.com/fyu/drn) for padseg's DRN.

    python tools/model_converters/drn2padseg.py \
        drn_d_54-0e0534ff.pth pretrain/drn_d_54_padseg.pth

The module names already match; the ImageNet classifier ``fc`` (and, in
DRN-C-58, an unused projection of layer7) is dropped, so the result loads
strictly into DRN and, with only the PAD aggregation weights missing, into
PADDRN. DRN and PADDRN also load the reference file directly through
``init_cfg=dict(type='Pretrained', checkpoint=...)``, with the same conversion.
"""
from padseg.apis.converters import converter_main
from padseg.models.backbones.drn import convert_reference_drn


def main(argv=None):
    converter_main(__doc__, convert_reference_drn, argv)


if __name__ == '__main__':
    main()
