"""Folders and lists of still images as a video: listed in natural order, read with OpenCV.

A list of images becomes sleap-io's image-list video (`sio.Video.from_filename([...])`), which
SLEAP opens like any other video; frame `i` is the `i`-th image.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import sleap_io as sio

from posenn.errors import PosennError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def is_image(path: Path) -> bool:
    """An image file, by name."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def natural_key(path: Path) -> list[str | int]:
    """Sort key that orders numbers in names by value: `img2.png` before `img10.png`."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def image_files(source: str | Path) -> list[Path]:
    """The images of `source` in natural order: one image file, every image in a folder (not
    its subfolders), or the images a glob pattern matches.

    Raises:
        PosennError: when `source` is none of these or holds no images.
    """
    path = Path(source)
    if path.is_file():
        if not is_image(path):
            raise PosennError(f"{path}: not an image ({', '.join(IMAGE_SUFFIXES)}).")
        return [path]
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_file() and is_image(p)]
        if not found:
            raise PosennError(f"{path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    elif glob.has_magic(str(source)):
        found = [Path(p) for p in glob.glob(str(source)) if is_image(Path(p))]
        if not found:
            raise PosennError(f"'{source}': no image matches ({', '.join(IMAGE_SUFFIXES)}).")
    else:
        raise PosennError(f"Images not found: {source}")
    return sorted(found, key=natural_key)


def image_video(files: Sequence[Path]) -> sio.Video:
    """sleap-io's image-list video of `files` (absolute paths, so outputs work from any folder)."""
    return sio.Video.from_filename([str(Path(p).resolve()) for p in files])


def is_image_list(video: sio.Video) -> bool:
    """True for an image-list video (its filename is a list of image paths)."""
    return isinstance(video.filename, list)


def conversion(channels: int) -> int:
    """OpenCV's conversion from BGR to `channels` channels (grey or RGB)."""
    return cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB


def read_image(path: Path, channels: int) -> np.ndarray:
    """`(height, width, channels)` uint8 image: grey as OpenCV converts decoded colour frames (so
    images and videos of the same scene give the same input), or RGB.

    Raises:
        PosennError: when the file cannot be read as an image.
    """
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if decoded is None:
        raise PosennError(f"{path}: cannot be read as an image.")
    frame = cv2.cvtColor(decoded, conversion(channels))
    return frame.reshape(frame.shape[0], frame.shape[1], channels)
