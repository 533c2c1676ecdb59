"""Data shipped with nnunet_tgc: the medical knowledge base that DATE injects (``knowledge/*.json``)."""
from pathlib import Path

KNOWLEDGE_DIR = Path(__file__).resolve().parent / "knowledge"
