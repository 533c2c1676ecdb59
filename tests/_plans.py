"""Plans pieces several tests build networks from."""

# what nnU-Net 2.8.1 plans for 224x224 PNGs (QaTa): 6 stages, features capped at 512
QATA_2D_ARCHITECTURE = {
    "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
    "arch_kwargs": {"n_stages": 6, "features_per_stage": [32, 64, 128, 256, 512, 512],
                    "conv_op": "torch.nn.modules.conv.Conv2d", "kernel_sizes": [[3, 3]] * 6,
                    "strides": [[1, 1]] + [[2, 2]] * 5, "n_conv_per_stage": [2] * 6,
                    "n_conv_per_stage_decoder": [2] * 5, "conv_bias": True,
                    "norm_op": "torch.nn.modules.instancenorm.InstanceNorm2d",
                    "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None,
                    "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU", "nonlin_kwargs": {"inplace": True}},
    "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]}
