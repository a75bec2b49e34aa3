"""SLEAP labels through sleap-io: loading with clear errors, video lookup, instances as arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import h5py
import numpy as np
import sleap_io as sio

from posenn.errors import PosennError

InstanceKind = Literal["user", "predicted", "all"]


def load_labels(path: Path) -> sio.Labels:
    """Load a `.slp` (or `.pkg.slp`), or labels in another format sleap-io reads (a DeepLabCut
    project folder or `CollectedData_*.csv`/`.h5`, COCO keypoints `.json`), and make sure every
    video it names can be found.

    Raises:
        PosennError: if the file is missing or unreadable, or a video cannot be found.
    """
    path = Path(path)
    if not path.exists():
        raise PosennError(f"Labels file not found: {path}")
    if path.is_dir() or not path.name.lower().endswith(".slp"):
        from posenn.io.convert import input_format, read_input  # pandas and friends load only here

        labels = read_input(path, input_format(path, "auto"))
    else:
        try:
            check_hdf5_structure(path)
            labels = sio.load_slp(str(path), open_videos=False)
        except PosennError:
            raise
        except Exception as exc:  # sleap-io raises many types for a bad file
            raise PosennError(f"{path}: not a readable SLEAP labels file ({type(exc).__name__}: {exc}).") from None
    for video in labels.videos:
        try:
            resolve_video(video, path)
        except PosennError:
            raise
        except Exception as exc:  # a damaged video record: a filename or backend sleap-io cannot use
            raise PosennError(f"{path}: video '{video.filename}' cannot be opened ({type(exc).__name__}: {exc}).") from None
    return labels


def check_hdf5_structure(path: Path) -> None:
    """Walk the HDF5 objects of a `.slp` and check that no uncompressed table claims more bytes
    than the file holds.

    A damaged file can make HDF5 read a table header that claims terabytes, or a text whose
    length field claims gigabytes, instead of failing; the walk finds such damage first.

    Raises:
        PosennError: naming the file and the damaged object.
    """
    size = path.stat().st_size

    def check(name: str, item: h5py.HLObject) -> None:
        if not isinstance(item, h5py.Dataset):
            return
        if item.compression is None and item.nbytes > size:
            raise PosennError(f"{path}: damaged: table '{name}' claims {item.nbytes} bytes but the file has {size}.")
        if item.id.get_storage_size() > size:
            raise PosennError(f"{path}: damaged: table '{name}' is larger than the file.")
        if item.dtype.kind == "O" and item.compression is None:
            with open(path, "rb") as raw:
                for length, address, index in variable_length_references(item, path):
                    if not heap_object_fits(raw, size, length, address, index):
                        raise PosennError(f"{path}: damaged: an entry of '{name}' does not match its stored text.")

    with h5py.File(path, "r") as handle:
        handle.visititems(check)


def heap_object_fits(raw: BinaryIO, size: int, length: int, address: int, index: int) -> bool:
    """Whether the HDF5 global heap collection at `address` is whole and holds object `index`,
    `length` bytes long.

    A collection is the signature `GCOL` and its size, then objects, each a 16-byte header (index,
    reference count, reserved, size) and its data padded to 8 bytes, and last the free space
    (index 0, whose size runs to the collection's end).
    """
    if address + 16 > size:
        return False
    raw.seek(address)
    header = raw.read(16)
    collection = int.from_bytes(header[8:16], "little")
    if header[:4] != b"GCOL" or collection > size - address:
        return False
    sizes: dict[int, int] = {}
    position, end = address + 16, address + collection
    while position + 16 <= end:
        raw.seek(position)
        object_header = raw.read(16)
        number, object_size = int.from_bytes(object_header[:2], "little"), int.from_bytes(object_header[8:16], "little")
        if number == 0:
            position += object_size
            break
        sizes[number] = object_size
        position += 16 + (object_size + 7) // 8 * 8
    return position == end and sizes.get(index) == length


def variable_length_references(dataset: h5py.Dataset, path: Path) -> list[tuple[int, int, int]]:
    """The (length, heap address, object index) of each stored element of an uncompressed variable-length
    dataset, read from its raw bytes: a 4-byte length, then an 8-byte address and a 4-byte index
    into HDF5's global heap."""
    storage = dataset.id
    if dataset.chunks is None:
        offset = storage.get_offset()
        if offset is None:
            return []
        with open(path, "rb") as handle:
            handle.seek(offset)
            raw = handle.read(storage.get_storage_size())
    else:
        raw = b"".join(
            storage.read_direct_chunk(storage.get_chunk_info(i).chunk_offset)[1] for i in range(storage.get_num_chunks())
        )
    rows = np.frombuffer(raw[: len(raw) // 16 * 16], dtype=[("length", "<u4"), ("address", "<u8"), ("index", "<u4")])
    return list(zip(rows["length"].tolist(), rows["address"].tolist(), rows["index"].tolist()))


def is_embedded(video: sio.Video) -> bool:
    """True when the frames are stored inside the labels file (a `.pkg.slp`)."""
    return type(video.backend).__name__ == "HDF5Video" or str(video.filename).endswith(".slp")


def resolve_video(video: sio.Video, labels_path: Path) -> None:
    """Point `video` at an existing file and open it.

    A relative path is looked up beside the labels file first (then the working directory); an
    absolute path that no longer exists is looked up by file name beside the labels file.

    Raises:
        PosennError: naming every path tried when none exists.
    """
    if is_embedded(video):
        video.open()
        return
    if isinstance(video.filename, list):  # a list of images (DeepLabCut's labeled-data, COCO)
        images = [find_file(Path(name), labels_path, "image") for name in video.filename]
        video.replace_filename([str(image) for image in images], open=True)
        return
    video.replace_filename(str(find_file(Path(str(video.filename)), labels_path, "video")), open=True)


def find_file(stored: Path, labels_path: Path, kind: str) -> Path:
    """The existing file a labels file names, resolved: a relative path beside the labels file
    first (then the working directory); an absolute path that no longer exists by its name
    beside the labels file.

    Raises:
        PosennError: naming every path tried when none exists.
    """
    folder = Path(labels_path).parent
    if stored.is_absolute():
        tried = [stored, folder / stored.name]
    else:
        tried = [folder / stored, folder / stored.name, stored]
    for candidate in dict.fromkeys(tried):
        if candidate.is_file():
            return candidate.resolve()  # outputs work from any folder
    listed = ", ".join(str(p) for p in dict.fromkeys(tried))
    raise PosennError(f"{labels_path}: {kind} '{stored}' not found. Tried: {listed}.")


def select_instances(frame: sio.LabeledFrame, kind: InstanceKind) -> list[sio.Instance]:
    """The instances of a frame that count as labels, user instances first.

    With `all`, a predicted instance that a user instance was corrected from is dropped.
    """
    user = list(frame.user_instances)
    predicted = list(frame.predicted_instances)
    if kind == "user":
        return user
    if kind == "predicted":
        return predicted
    corrected = {id(inst.from_predicted) for inst in user if inst.from_predicted is not None}
    return user + [inst for inst in predicted if id(inst) not in corrected]


@dataclass
class LabeledSample:
    """One labeled frame: where it is, and its instances as an array.

    Attributes:
        video: the video the frame comes from.
        frame_idx: index of the frame in the video.
        points: `(instances, nodes, 2)` float32 xy in frame pixels, NaN where not labeled.
        tracks: `(instances,)` the name of each instance's track, None when it has none.
    """

    video: sio.Video
    frame_idx: int
    points: np.ndarray
    tracks: list[str | None] = field(default_factory=list)


def labeled_samples(labels: sio.Labels, kind: InstanceKind, source: Path | str = "labels") -> list[LabeledSample]:
    """Every frame with at least one instance of `kind` and a visible point.

    Raises:
        PosennError: when no frame qualifies (e.g. only predicted instances and kind='user').
    """
    samples = []
    for frame in labels.labeled_frames:
        instances = [inst for inst in select_instances(frame, kind) if inst.n_visible > 0]
        if not instances:
            continue
        points = np.stack([inst.numpy()[:, :2] for inst in instances]).astype(np.float32)
        infinite = np.argwhere(np.isinf(points))
        if len(infinite):
            row, node, _ = infinite[0]
            raise PosennError(
                f"{source}: frame {frame.frame_idx} of {frame.video.filename}, instance {row}: node "
                f"'{labels.skeleton.node_names[node]}' is at {points[row, node].tolist()}; expected finite "
                "coordinates (NaN marks a point that is not labeled)."
            )
        tracks = [instance.track.name if instance.track is not None else None for instance in instances]
        samples.append(LabeledSample(frame.video, int(frame.frame_idx), points, tracks))
    if not samples:
        counts = f"{labels.n_user_instances} user, {labels.n_pred_instances} predicted"
        raise PosennError(
            f"{source}: no labeled instances of kind '{kind}' ({counts} instances in the file). "
            "Set data.instances to 'user', 'predicted' or 'all' to match the file."
        )
    return samples


def check_skeleton(labels: sio.Labels, node_names: list[str], source: Path | str) -> None:
    """Raise a PosennError when the labels' skeleton is not the one the config expects."""
    found = list(labels.skeleton.node_names)
    if node_names and found != list(node_names):
        raise PosennError(
            f"{source}: skeleton nodes {found} do not match the config's "
            f"data.skeleton.nodes {list(node_names)}."
        )
