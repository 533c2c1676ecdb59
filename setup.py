from setuptools import find_packages, setup

setup(
    name="nnunet_tgc",
    version="0.1.0",
    description="TGC-Net (text-guided, CLIP-based segmentation) as an nnU-Net v2 plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["nnunet_tgc", "nnunet_tgc.*", "text_reports", "text_reports.*"]),
    package_data={"text_reports": ["knowledge/*.json"]},
    install_requires=[
        "nnunetv2>=2.8.1,<2.9",
        "torch>=2.1.2,!=2.9.*",  # as nnunetv2 2.8.1 requires
        "torchvision",
        # forward_intermediates arrived in 2.32, local-dir: and create_model(pretrained_text=...) in 3.0; before
        # 3.3 the Hugging Face tokenizer (BiomedCLIP) calls batch_encode_plus, which transformers 5 removed
        "open_clip_torch>=3.3.0",
        # called directly (forward_intermediates, dynamic_img_size, timm.layers.Format); open_clip 3.3 needs 1.0.17
        "timm>=1.0.17",
        "transformers",
        "batchgenerators",
        "SimpleITK",
        "dynamic-network-architectures>=0.4.4,<0.5",  # as nnunetv2 2.8.1 requires
        "numpy",
        "pillow",
        "openpyxl",
        "tifffile",
        "matplotlib",
        "tqdm",
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "filelock"]},  # xdist: two workers (scripts/install_and_test.sh)
    entry_points={"console_scripts": ["nnunet-tgc=nnunet_tgc.cli:main"]},
)
