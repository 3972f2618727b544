# VGG-16 classifier in padseg's FCN form: conv1_1 pads by 1 (the ImageNet
# net), fc6/fc7 are the 7x7/1x1 convs that torchvision's classifier.0/.3
# Linear layers reshape into, so at 224x224 fc7 is 1x1 and pooling plus the
# linear head (fc8) give exactly torchvision's VGG-16. The PAD configs swap in
# PADVGG (PAD in conv5, Table 9).
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='FCNVGG',
        depth=16,
        input_padding=1,
        with_fc=True,
        out_indices=(5, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=4096,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
