# Pascal VOC 2012 "trainaug": the VOC train images plus the SBD annotations
# (10,582 images, none of them in VOC val), the training set of DeepLab and
# FCN. SegmentationClassAug and aug.txt come from MMSeg's
# tools/dataset_converters/voc_aug.py. Evaluation as in pascal_voc12.py.
_base_ = './pascal_voc12.py'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            _base_.train_dataloader.dataset,
            dict(
                _base_.train_dataloader.dataset,
                data_prefix=dict(
                    img_path='JPEGImages',
                    seg_map_path='SegmentationClassAug'),
                ann_file='ImageSets/Segmentation/aug.txt')
        ]))
