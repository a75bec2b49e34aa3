"""Still images as a video: natural order, patterns, reading, errors."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from posenn.errors import PosennError
from posenn.io.images import image_files, image_video, is_image_list, natural_key, read_image
from posenn.io.video import decode_batches, iter_frames


def write_images(folder: Path, names: list[str], size: tuple[int, int] = (24, 32)) -> list[Path]:
    """Grey images whose grey level is their position in `names` times 10."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        cv2.imwrite(str(folder / name), np.full(size, 10 * i, np.uint8))
        paths.append(folder / name)
    return paths


def test_natural_order():
    names = ["img10.png", "img2.png", "img1.png", "IMG3.png"]
    assert sorted(names, key=natural_key) == ["img1.png", "img2.png", "IMG3.png", "img10.png"]


def test_folder_pattern_and_single_image(tmp_path):
    paths = write_images(tmp_path / "frames", ["f10.png", "f2.jpg", "f1.tif"])
    (tmp_path / "frames" / "notes.txt").write_text("not an image")
    assert image_files(tmp_path / "frames") == [paths[2], paths[1], paths[0]]
    assert image_files(str(tmp_path / "frames" / "f*.png")) == [paths[0]]
    assert image_files(paths[1]) == [paths[1]]


def test_errors_name_the_source(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PosennError, match="empty: the folder holds no images"):
        image_files(tmp_path / "empty")
    with pytest.raises(PosennError, match=r"'.*\*\.png': no image matches"):
        image_files(str(tmp_path / "*.png"))
    with pytest.raises(PosennError, match="Images not found"):
        image_files(tmp_path / "missing")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(PosennError, match="bad.png: cannot be read as an image"):
        read_image(tmp_path / "bad.png", 1)


def test_image_list_video_reads_frames_of_any_size(tmp_path):
    paths = write_images(tmp_path / "a", ["0.png", "1.png"]) + write_images(tmp_path / "b", ["2.png"], size=(40, 20))
    video = image_video(paths)
    assert is_image_list(video) and video.filename == [str(p.resolve()) for p in paths]
    frames = dict(iter_frames(video, [0, 2], 1))
    assert frames[0].shape == (24, 32, 1) and frames[2].shape == (40, 20, 1) and frames[2][0, 0, 0] == 0
    rgb = read_image(paths[1], 3)
    assert rgb.shape == (24, 32, 3) and (rgb == 10).all()
    (number, batch), = list(decode_batches(video, [[0, 1, 2]], 1, batch_size=3))
    assert number == 0 and batch.frames.shape == (3, 40, 32, 1)
    assert batch.sizes.tolist() == [[24, 32], [24, 32], [40, 20]]
    assert batch.frames[1, 0, 0, 0] == 10 and batch.frames[0, 30, 0, 0] == 0  # zero-padded below the smaller frames
