# The digits' regular network on the second generated set, shapes (disks,
# squares, triangles of 6-90 px on dim blobs; written by
# `python tools/dataset_converters/make_shapes.py --out data/shapes_voc`),
# read by mmseg's BaseSegDataset. For the studies of docs/pad_layer.md; no
# paper number.
_base_ = '../digits/deeplabv3plus_r18w16-os8_1xb8-1k_digits-96x96.py'
metainfo = dict(
    classes=('background', 'disk', 'square', 'triangle'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])
data_root = 'data/shapes_voc/VOC2012'
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo)
train_dataloader = dict(dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = val_dataloader
model = dict(decode_head=dict(num_classes=4))
