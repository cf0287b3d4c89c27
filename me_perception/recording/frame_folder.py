"""A folder of frame images as a frame source: CASME II, SAMM and CAS(ME)^2 clips, or any
folder of numbered images.

Order and time come from the file names: images are sorted naturally (``img2`` before
``img10``) and each one's trailing number is its frame number, so frame ``n`` is stamped
``(n - first) / fps`` after the first. A gap in the numbering (frames removed from a clip)
therefore stays a gap in time, which the pipeline's stream clock treats as one; it is also said
in the notes, naming the file after which frames are missing. Names without numbers are taken
in natural order, one frame period apart.

The frame rate is, in this order: ``fps`` given by the caller (``--fps``), the ``fps`` of a
``ground_truth.json`` inside the folder, or the rate of a recognised data-set layout (CASME II
and SAMM: 200 fps, CAS(ME)^2: 30 fps); otherwise it is an error asking for ``--fps``.

Decoding uses the live node's functions on the files' bytes (JPEG and PNG), so a folder made
from a bag's CompressedImage messages gives exactly the bag's pixels. Checked before anything
is read: no images, a file that is not an image, two files with the same frame number, some
names numbered and some not, and images of different sizes (each error names the file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from me_perception.perception.image_decoding import (
    DecodeConfig,
    DecodedImage,
    ImageDecodeError,
    decode_compressed_image,
)
from me_perception.recording.errors import RecordingError
from me_perception.recording.sources import (
    DEFAULT_FRAME_ID,
    FILE_EPOCH_NS,
    IMAGE_SUFFIXES,
    SourceFrame,
    Wants,
)


@dataclass(frozen=True)
class Layout:
    """A data set's clip folder, recognised by its file and folder names."""

    name: str
    fps: float
    stem: str  # every file stem matches this
    folder: str = r".+"  # the clip folder's name
    parent: str = r".*"  # the folder above it


LAYOUTS = (
    # CASME II: CASME2_RAW_selected/sub01/EP02_01f/img46.jpg (or Cropped/.../reg_img46.jpg)
    Layout("CASME II", 200.0, stem=r"(?:reg_)?img\d+", parent=r"sub\d+"),
    # CAS(ME)^2: rawpic/s15/15_0101disgustingteeth/img1.jpg
    Layout("CAS(ME)^2", 30.0, stem=r"img\d+", folder=r"\d+_\d+\w*", parent=r"s\d+"),
    # SAMM: SAMM/006/006_1_2/006_05562.jpg
    Layout("SAMM", 200.0, stem=r"\d+_\d+", folder=r"\d+_\d+_\d+"),
    # SAMM Long Videos: SAMM_longvideos/006_1/006_1_0001.jpg
    Layout("SAMM Long Videos", 200.0, stem=r"\d+_\d+_\d+", folder=r"\d+_\d+"),
)


def natural_key(name: str) -> list[str | int]:
    """Sort key that orders embedded numbers by value: img2 < img10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def frame_number(path: Path) -> int | None:
    """The trailing integer of a file stem ('img46' -> 46, '006_05562' -> 5562)."""
    m = re.search(r"(\d+)$", path.stem)
    return int(m.group(1)) if m else None


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder`` (hidden files skipped), in natural order."""
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def recognise_layout(folder: Path, files: list[Path]) -> Layout | None:
    """The data-set layout the folder follows, if any."""
    for layout in LAYOUTS:
        if (
            re.fullmatch(layout.folder, folder.name)
            and re.fullmatch(layout.parent, folder.parent.name)
            and all(re.fullmatch(layout.stem, p.stem) for p in files)
        ):
            return layout
    return None


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise RecordingError(f"{path} is not a readable image ({exc})") from None


class FolderSource:
    """The images of one folder, in frame-number order, stamped from their numbers."""

    kind = "folder"

    def __init__(
        self,
        path: str | Path,
        fps: float | None = None,
        *,
        frame_id: str = DEFAULT_FRAME_ID,
        decode_config: DecodeConfig | None = None,
    ) -> None:
        self.path = Path(path)
        self.frame_id = frame_id
        self.notes: list[str] = []
        self._decode = decode_config or DecodeConfig()
        if not self.path.is_dir():
            raise RecordingError(f"frame folder not found: {self.path}")
        self.files = list_images(self.path)
        if not self.files:
            raise RecordingError(self._no_images())
        self.numbers = self._numbering()
        self.fps = self._frame_rate(fps)
        self.width, self.height = self._check_sizes()
        self.stream = f"{self.width}x{self.height} images at {self.fps:g} fps"

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[SourceFrame]:
        return self.frames(range(len(self.files)))

    def iterate(self, wants: Wants | None = None) -> Iterator[SourceFrame]:
        for index in range(len(self.files)):
            stamp = self.stamp_ns(index)
            if wants is not None and not wants(stamp):
                yield SourceFrame(index, stamp, self.frame_id, stamp, None, skipped=True)
            else:
                yield self._frame(index)

    def frames(self, indices: Collection[int]) -> Iterator[SourceFrame]:
        for index in sorted(set(indices)):
            yield self._frame(index)

    def frame_name(self, index: int) -> str:
        return self.files[index].name

    def stamp_ns(self, index: int) -> int:
        """Stamp of frame ``index``: its number's distance to the first, at the frame rate."""
        return FILE_EPOCH_NS + round((self.numbers[index] - self.numbers[0]) * 1e9 / self.fps)

    # -- checks made once, before any frame is read ---------------------------------------------
    def _no_images(self) -> str:
        sub = [d for d in sorted(self.path.iterdir()) if d.is_dir() and list_images(d)]
        hint = (
            f"; {len(sub)} sub-folder(s) hold images (e.g. {sub[0].name}): give one of them, "
            "or the whole folder to me_perception_batch"
            if sub
            else ""
        )
        kinds = " ".join(IMAGE_SUFFIXES)
        return f"no images in {self.path} (looked for {kinds}){hint}"

    def _numbering(self) -> list[int]:
        """Frame numbers of the files; numbering gaps are noted, ambiguities are errors."""
        numbers = [frame_number(p) for p in self.files]
        if all(n is None for n in numbers):
            self.notes.append("the file names carry no frame numbers: frames in name order")
            return list(range(len(self.files)))
        if any(n is None for n in numbers):
            bad = self.files[numbers.index(None)]
            raise RecordingError(
                f"{bad} has no frame number while the other images in {self.path} are numbered: "
                "move it out of the folder"
            )
        known: list[int] = [n for n in numbers if n is not None]
        order = sorted(range(len(known)), key=known.__getitem__)
        self.files = [self.files[i] for i in order]
        known = [known[i] for i in order]
        for a, b, pa, pb in zip(known, known[1:], self.files, self.files[1:], strict=False):
            if a == b:
                raise RecordingError(f"{pa} and {pb} have the same frame number {a}")
        gaps = [(p, b - a - 1) for a, b, p in zip(known, known[1:], self.files, strict=False)]
        gaps = [(p, n) for p, n in gaps if n > 0]
        if gaps:
            shown = ", ".join(f"{n} after {p.name}" for p, n in gaps[:3])
            more = f" and {len(gaps) - 3} more gap(s)" if len(gaps) > 3 else ""
            self.notes.append(
                f"{sum(n for _, n in gaps)} frame(s) missing in the numbering ({shown}{more}): "
                "the stamps keep the numbering, so the pipeline sees a gap in time there"
            )
        return known

    def _frame_rate(self, fps: float | None) -> float:
        if fps is not None:
            if not fps > 0:
                raise RecordingError(f"--fps must be positive, got {fps}")
            return float(fps)
        truth = self.path / "ground_truth.json"
        if truth.is_file():
            try:
                rate = float(json.loads(truth.read_text())["fps"])
            except (OSError, ValueError, KeyError, TypeError):
                rate = 0.0
            if rate > 0:
                self.notes.append(f"frame rate {rate:g} fps from {truth.name}")
                return rate
        layout = recognise_layout(self.path, self.files)
        if layout is not None:
            self.notes.append(f"{layout.name} layout recognised: {layout.fps:g} fps")
            return layout.fps
        raise RecordingError(
            f"the frame folder {self.path} carries no frame rate: give it with --fps "
            "(e.g. --fps 200 for a high-speed camera)"
        )

    def _check_sizes(self) -> tuple[int, int]:
        first = _image_size(self.files[0])
        if first[0] * first[1] > self._decode.max_pixels:
            raise RecordingError(
                f"{self.files[0]} is {first[0]}x{first[1]}, "
                f"above the limit of {self._decode.max_pixels} pixels"
            )
        for path in self.files[1:]:
            size = _image_size(path)
            if size != first:
                raise RecordingError(
                    f"{path} is {size[0]}x{size[1]} but {self.files[0].name} is "
                    f"{first[0]}x{first[1]}: a recording's frames must all have one size"
                )
        return first

    # -- reading ----------------------------------------------------------------------------
    def _frame(self, index: int) -> SourceFrame:
        stamp = self.stamp_ns(index)
        path = self.files[index]
        try:
            image, error = self._read(path), None
        except ImageDecodeError as exc:
            image, error = None, exc
        return SourceFrame(index, stamp, self.frame_id, stamp, image, error)

    def _read(self, path: Path) -> DecodedImage:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageDecodeError("empty", f"{path.name}: {exc.strerror or exc}") from None
        if data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n":
            return decode_compressed_image("", data, self._decode)
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None or bgr.size == 0:
            raise ImageDecodeError("corrupt_compressed", f"{path.name} cannot be decoded")
        return DecodedImage(path.suffix.lower().lstrip("."), bgr=bgr)
