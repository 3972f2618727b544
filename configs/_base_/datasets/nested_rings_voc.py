# The main job's scenes, "nested rings" (tools/main_job.py writes them;
# `python tools/dataset_converters/make_shapes.py --scene nested --out
# data/nested_voc --num-test 200`): 1-2 large rings (44-90 px) and 2-6 small
# ones (10-22 px) on top, three in four of them inside a large ring of another
# colour; class = colour, each shape a 2 px band labelled over its whole
# area. Three disjoint splits from separate random streams: train (fit),
# val (every choice: checkpoints, dilations, settings) and test (the
# reported numbers only). Read by mmseg's BaseSegDataset.
_base_ = './digits_voc.py'
metainfo = dict(
    classes=('background', 'red', 'green', 'blue'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [0, 0, 128]])
data_root = 'data/nested_voc/VOC2012'
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo)
train_dataloader = dict(dataset=dataset)
val_dataloader = dict(dataset=dataset)
test_dataloader = dict(
    dataset=dict(
        dataset, ann_file='ImageSets/Segmentation/test.txt'))
# IoU of the objects per size (sqrt(area) in px): the small rings fall below
# 24 px, the large ones above.
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='ObjectSizeIoU', size_bins=(24, ), exclude_classes=(0, ))
]
test_evaluator = val_evaluator
