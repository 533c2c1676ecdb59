import os
import warnings

# never wait for the Hugging Face hub: a lookup fails at once instead of after 20 s of retries
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("nnUNet_compile", "f")
warnings.filterwarnings("ignore", message=".*torch.jit.interface.*")
