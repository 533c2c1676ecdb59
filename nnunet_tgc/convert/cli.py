"""``nnunet-tgc convert {qata,mosmed,generic}``: build an nnU-Net raw dataset with reports."""
import argparse
import os
import sys
from pathlib import Path

from . import generic, mosmed, qata
from .common import ConversionError
from .images import CHANNEL_CHOICES
from ..text.knowledge import KnowledgeBase
from .writer import LATERALITY_CHOICES, DatasetSpec, write_dataset


def add_parser(subparsers) -> None:
    convert = subparsers.add_parser("convert", help="convert a text-annotated dataset to nnU-Net",
                                    description=__doc__)
    which = convert.add_subparsers(dest="dataset", required=True)
    _add_qata(which)
    _add_mosmed(which)
    _add_generic(which)


def _add_qata(which) -> None:
    parser = which.add_parser("qata", help="QaTa-COV19 (LViT Train_Folder/... or LanGuideMedSeg "
                                           "prompt/*.csv layout)")
    parser.add_argument("source", type=Path, help="dataset root (holds Train_Folder/ or prompt/)")
    parser.add_argument("--layout", choices=("auto", "lvit", "csv"), default="auto")
    _add_common(parser, name="QaTaCOV19", channel="xray", laterality="image", domain="chest")
    parser.set_defaults(func=_run_qata)


def _add_mosmed(which) -> None:
    parser = which.add_parser("mosmed", help="MosMedData+ (Kaggle frames/ + masks/, LViT text files)")
    parser.add_argument("source", type=Path, help="folder with frames/, masks/ and the text files")
    parser.add_argument("--frames", type=Path, help="image folder (default SOURCE/frames)")
    parser.add_argument("--masks", type=Path, help="mask folder (default SOURCE/masks)")
    parser.add_argument("--text-dir", type=Path, help="folder of Train_text*/Val_text*/Test_text* "
                                                      "files (default SOURCE)")
    for split in ("train", "val", "test"):
        parser.add_argument(f"--{split}-text", type=Path, help=f"{split} text file (overrides --text-dir)")
    _add_common(parser, name="MosMedDataPlus", channel="CT", laterality="unknown", domain="chest")
    parser.set_defaults(func=_run_mosmed)


def _add_generic(which) -> None:
    parser = which.add_parser("generic", help="any images + masks + report table")
    parser.add_argument("--images", type=Path, required=True, help="folder of images (PNG, JPEG, "
                                                                   "TIFF, BMP or NIfTI)")
    parser.add_argument("--masks", type=Path, required=True, help="folder of masks, same stems, "
                                                                  "optional mask_ prefix")
    parser.add_argument("--table", type=Path, required=True, help="CSV/TSV/XLSX/JSON of image name "
                                                                  "and report")
    parser.add_argument("--split-column", help="column with train/val/test per row (default: all train)")
    _add_common(parser, name=None, channel="image", laterality=None, domain="none")
    parser.set_defaults(func=_run_generic)


def _add_common(parser, name, channel: str, laterality, domain: str) -> None:
    parser.add_argument("-d", "--dataset-id", type=int, required=True, help="nnU-Net dataset id (1-999)")
    parser.add_argument("-n", "--name", default=name, required=name is None,
                        help=f"dataset name (folder DatasetXXX_NAME){f'; default {name}' if name else ''}")
    parser.add_argument("--nnunet-raw", type=Path, default=_env_path("nnUNet_raw"),
                        help="output root (default $nnUNet_raw)")
    parser.add_argument("--nnunet-preprocessed", type=Path, default=_env_path("nnUNet_preprocessed"),
                        help="where splits_final.json goes (default $nnUNet_preprocessed)")
    parser.add_argument("--official-split", action="store_true",
                        help="make fold 0 the benchmark's own train/val split (splits_final.json)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="leave out (and list) bad cases instead of stopping at the first")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset folder")
    parser.add_argument("--limit", type=int, help="use only the first N rows of each report table")
    parser.add_argument("--image-column", help="table column with the image name")
    parser.add_argument("--text-column", help="table column with the report")
    parser.add_argument("--channel-name", default=channel,
                        help=f"dataset.json channel name of grayscale images (default {channel}; "
                             f"'CT' selects nnU-Net's CT normalisation)")
    parser.add_argument("--channels", choices=CHANNEL_CHOICES, default="auto",
                        help="grayscale (gray: one channel, colour images become their channels' mean) or colour "
                             "(rgb: three channels, grayscale repeated) for the whole dataset; default auto: rgb "
                             "only when a clear share of all pixels has real colour (JPEG chroma noise never counts)")
    parser.add_argument("--label-names", default="infection",
                        help="comma-separated names of labels 1, 2, ... (default infection)")
    parser.add_argument("--mask-values", type=_parse_mask_values,
                        help="mask value to label, e.g. 0=0,128=1,255=2 (default: 0/255 or 0/1 binary)")
    # no default where the converter cannot know: a wrong guess makes the model read sides backwards
    parser.add_argument("--laterality", choices=LATERALITY_CHOICES, default=laterality,
                        help="whose left/right the reports mean: image (the image's left, as in QaTa-COV19), "
                             "patient (the patient's left, as clinical reports), unknown "
                             + (f"(default {laterality})" if laterality else "(required)"))
    parser.add_argument("--knowledge-domain", default=domain, choices=KnowledgeBase.load().domains,
                        help=f"which domain's knowledge applies to the reports (dataset.json's tgc_knowledge_domain; "
                             f"default {domain}): 'chest' reads lung zones and lobes; 'none' only the general "
                             f"terms (sides of the image, counts), for reports of any other kind")
    parser.add_argument("--description", help="dataset.json description")
    parser.add_argument("--reference", help="dataset.json reference")


def _env_path(variable: str):
    value = os.environ.get(variable)
    return Path(value) if value else None


def _parse_mask_values(text: str) -> dict:
    try:
        pairs = [item.split("=") for item in text.split(",") if item.strip()]
        return {int(value): int(label) for value, label in pairs}
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--mask-values expects VALUE=LABEL pairs such as "
                                         f"0=0,255=1, got {text!r}") from err


def _columns(args, defaults_image, defaults_text) -> tuple:
    return ([args.image_column] if args.image_column else defaults_image,
            [args.text_column] if args.text_column else defaults_text)


def _run_qata(args) -> int:
    image_cols, text_cols = _columns(args, qata.IMAGE_COLUMNS, qata.TEXT_COLUMNS)
    return _convert(args, lambda: qata.collect_qata(args.source, args.layout, args.limit, image_cols, text_cols),
                    qata.DESCRIPTION, qata.REFERENCE)


def _run_mosmed(args) -> int:
    image_cols, text_cols = _columns(args, mosmed.IMAGE_COLUMNS, mosmed.TEXT_COLUMNS)

    def collect():
        text_files = mosmed.find_text_files(args.text_dir or args.source) if not args.train_text else {}
        for split in ("train", "val", "test"):
            if getattr(args, f"{split}_text"):
                text_files[split] = getattr(args, f"{split}_text")
        return mosmed.collect_mosmed(args.source, args.frames, args.masks, text_files, args.limit,
                                     image_cols, text_cols)
    return _convert(args, collect, mosmed.DESCRIPTION, mosmed.REFERENCE)


def _run_generic(args) -> int:
    if args.laterality is None:
        print(f"error: --laterality is required: say whose left and right the reports in {args.table} mean: "
              f"'image' (the image's left, as in QaTa-COV19), 'patient' (the patient's left, as clinical reports "
              f"write it; on a PA radiograph that is the image's right) or 'unknown' (reports used as written, "
              f"which can then only be predicted with reports of unknown convention)", file=sys.stderr)
        return 1
    return _convert(args, lambda: generic.collect_generic(
        args.images, args.masks, args.table, args.image_column, args.text_column, args.split_column,
        args.limit), "", "")


def _convert(args, collect, description: str, reference: str) -> int:
    try:
        if args.nnunet_raw is None:
            raise ConversionError("no output folder: set the nnUNet_raw environment variable or pass "
                                  "--nnunet-raw")
        spec = DatasetSpec(
            dataset_id=args.dataset_id, name=args.name, nnunet_raw=args.nnunet_raw,
            nnunet_preprocessed=args.nnunet_preprocessed, channel_name=args.channel_name, channels=args.channels,
            label_names=[n.strip() for n in args.label_names.split(",") if n.strip()],
            mask_values=args.mask_values, laterality=args.laterality, knowledge_domain=args.knowledge_domain,
            description=args.description if args.description is not None else description,
            reference=args.reference if args.reference is not None else reference,
            official_split=args.official_split, skip_bad=args.skip_bad, overwrite=args.overwrite)
        write_dataset(collect(), spec)
    except ConversionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
