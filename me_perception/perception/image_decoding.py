"""Decode raw and compressed camera images into numpy arrays without cv_bridge.

The ROS node and the offline bag reader both receive images as plain message fields
(``encoding, width, height, step, is_bigendian, data`` for ``sensor_msgs/Image`` and
``format, data`` for ``sensor_msgs/CompressedImage``). Keeping this module free of ROS imports
lets both call the very same code, which is what makes live and offline results identical.

Why this shape:

* Every failure raises :class:`ImageDecodeError` with a machine-readable ``reason`` so the node
  can count dropped frames per reason in its diagnostics instead of parsing messages.
* Raw images are wrapped with ``np.ndarray(buffer=..., strides=...)`` honouring ``step`` so the
  common ``bgr8``/``mono8`` cases cost no copy at all; conversions (e.g. to grayscale) happen
  lazily, once, only if a consumer asks for them.
* A maximum pixel count is checked *before* any allocation or decompression, so a malformed
  or hostile message cannot make the node allocate gigabytes.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np
import simplejpeg

from me_perception.perception.stamps import NS_PER_S, to_ns

__all__ = [
    "COMPRESSED_FORMATS",
    "RAW_ENCODINGS",
    "DecodeConfig",
    "DecodedImage",
    "ImageDecodeError",
    "decode_compressed_image",
    "decode_message",
    "decode_raw_image",
    "message_stamp_ns",
]

# Reasons are a closed set so diagnostics can aggregate them.
REASONS = (
    "unsupported_encoding",
    "size_mismatch",
    "empty",
    "corrupt_compressed",
    "too_large",
    "zero_size",
    "bad_stamp",
)


class ImageDecodeError(ValueError):
    """An image could not be decoded; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class DecodeConfig:
    """Limits applied before decoding.

    ``max_pixels`` defaults to 4096x4096: far above any face camera, far below what would
    exhaust memory on a Jetson.
    ``compressed_gray_only`` decodes JPEG/PNG straight to grayscale (libjpeg skips the colour
    conversion, about 2x faster); ``bgr`` is then a gray image expanded to 3 channels. Use it
    when the model and detector only need grayscale and no colour overlay is published.
    """

    max_pixels: int = 4096 * 4096
    compressed_gray_only: bool = False


class DecodedImage:
    """A decoded frame: BGR uint8 ``(H, W, 3)`` and grayscale uint8 ``(H, W)`` views.

    Whichever of the two the source encoding provides natively is a zero-copy view of the
    message buffer (read-only when the buffer is ``bytes``); the other one is computed on first
    access and cached, so a consumer that needs only grayscale never pays for colour.
    """

    def __init__(
        self,
        encoding: str,
        bgr: np.ndarray | None = None,
        gray: np.ndarray | None = None,
    ) -> None:
        if bgr is None and gray is None:
            raise ValueError("DecodedImage needs bgr or gray")
        self.encoding = encoding
        if bgr is not None:
            self.__dict__["bgr"] = bgr
        if gray is not None:
            self.__dict__["gray"] = gray

    @cached_property
    def bgr(self) -> np.ndarray:
        """BGR uint8 image, shape ``(H, W, 3)``."""
        return cv2.cvtColor(self.__dict__["gray"], cv2.COLOR_GRAY2BGR)

    @cached_property
    def gray(self) -> np.ndarray:
        """Grayscale uint8 image, shape ``(H, W)``."""
        return cv2.cvtColor(self.__dict__["bgr"], cv2.COLOR_BGR2GRAY)

    @property
    def height(self) -> int:
        """Image height in pixels."""
        src = self.__dict__.get("bgr", self.__dict__.get("gray"))
        return int(src.shape[0])

    @property
    def width(self) -> int:
        """Image width in pixels."""
        src = self.__dict__.get("bgr", self.__dict__.get("gray"))
        return int(src.shape[1])


# encoding -> (channels, bytes per channel). Names follow sensor_msgs/image_encodings.hpp.
_RAW_LAYOUT: dict[str, tuple[int, int]] = {
    "bgr8": (3, 1),
    "rgb8": (3, 1),
    "bgra8": (4, 1),
    "rgba8": (4, 1),
    "mono8": (1, 1),
    "8uc1": (1, 1),
    "8uc3": (3, 1),
    "8uc4": (4, 1),
    "mono16": (1, 2),
    "16uc1": (1, 2),
    "yuv422": (2, 1),  # ROS "yuv422" is UYVY byte order
    "uyvy": (2, 1),
    "yuv422_yuy2": (2, 1),
    "yuyv": (2, 1),
    "bayer_rggb8": (1, 1),
    "bayer_bggr8": (1, 1),
    "bayer_gbrg8": (1, 1),
    "bayer_grbg8": (1, 1),
}
RAW_ENCODINGS: tuple[str, ...] = tuple(_RAW_LAYOUT)

# OpenCV names Bayer patterns after the second row's first two pixels, so ROS "rggb" is
# OpenCV "BG" (the same mapping cv_bridge uses).
_BAYER_CODES = {
    "bayer_rggb8": cv2.COLOR_BayerBG2BGR,
    "bayer_bggr8": cv2.COLOR_BayerRG2BGR,
    "bayer_gbrg8": cv2.COLOR_BayerGR2BGR,
    "bayer_grbg8": cv2.COLOR_BayerGB2BGR,
}

COMPRESSED_FORMATS: tuple[str, ...] = ("jpeg", "png")


def _buffer_length(data: Any) -> int:
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    return memoryview(data).nbytes


def _as_buffer(data: Any) -> Any:
    """Return an object exposing the buffer protocol over ``data`` without copying.

    ``array.array`` (what rclpy gives for ``uint8[]``), ``bytes``, ``bytearray``, ``memoryview``
    and numpy arrays all work; lists (rosbags sometimes gives numpy, tests may give lists) are
    converted once.
    """
    if isinstance(data, (bytes, bytearray, memoryview, np.ndarray)):
        return data
    if isinstance(data, (list, tuple)):
        return np.asarray(data, dtype=np.uint8)
    return memoryview(data)


def decode_raw_image(
    encoding: str,
    width: int,
    height: int,
    step: int,
    is_bigendian: bool | int,
    data: Any,
    config: DecodeConfig | None = None,
) -> DecodedImage:
    """Decode the fields of a ``sensor_msgs/Image`` into a :class:`DecodedImage`.

    Raises :class:`ImageDecodeError` on any malformed input; never returns a partial image.
    16-bit images are reduced to 8 bit by :func:`_gray_from_16bit`.
    """
    cfg = config or DecodeConfig()
    enc = (encoding or "").strip().lower()
    layout = _RAW_LAYOUT.get(enc)
    if layout is None:
        raise ImageDecodeError("unsupported_encoding", f"raw encoding {encoding!r} not supported")
    width, height, step = int(width), int(height), int(step)
    if width <= 0 or height <= 0:
        raise ImageDecodeError("zero_size", f"image is {width}x{height}")
    if width * height > cfg.max_pixels:
        raise ImageDecodeError("too_large", f"{width}x{height} exceeds max_pixels={cfg.max_pixels}")
    channels, depth = layout
    row_bytes = width * channels * depth
    if enc in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv") and width % 2:
        raise ImageDecodeError("size_mismatch", f"YUV 4:2:2 needs an even width, got {width}")
    nbytes = _buffer_length(data)
    if nbytes == 0:
        raise ImageDecodeError("empty", "image data is empty")
    if step < row_bytes:
        raise ImageDecodeError(
            "size_mismatch", f"step {step} < width*bytes_per_pixel {row_bytes} for {enc}"
        )
    if nbytes != step * height:
        raise ImageDecodeError(
            "size_mismatch", f"data has {nbytes} bytes, expected step*height = {step * height}"
        )

    buf = _as_buffer(data)
    if depth == 2:
        return DecodedImage(enc, gray=_gray_from_16bit(buf, width, height, step, is_bigendian))

    if channels == 1:
        img = np.ndarray(shape=(height, width), dtype=np.uint8, buffer=buf, strides=(step, 1))
        if enc in _BAYER_CODES:
            return DecodedImage(enc, bgr=cv2.cvtColor(img, _BAYER_CODES[enc]))
        return DecodedImage(enc, gray=img)

    img = np.ndarray(
        shape=(height, width, channels),
        dtype=np.uint8,
        buffer=buf,
        strides=(step, channels, 1),
    )
    if enc in ("bgr8", "8uc3"):
        return DecodedImage(enc, bgr=img)
    if enc == "rgb8":
        return DecodedImage(enc, bgr=cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if enc in ("bgra8", "8uc4"):
        return DecodedImage(enc, bgr=cv2.cvtColor(img, cv2.COLOR_BGRA2BGR))
    if enc == "rgba8":
        return DecodedImage(enc, bgr=cv2.cvtColor(img, cv2.COLOR_RGBA2BGR))
    if enc in ("yuv422", "uyvy"):
        # Grayscale of UYVY is simply the Y bytes: a zero-copy view.
        return DecodedImage(enc, bgr=cv2.cvtColor(img, cv2.COLOR_YUV2BGR_UYVY), gray=img[:, :, 1])
    if enc in ("yuv422_yuy2", "yuyv"):
        return DecodedImage(enc, bgr=cv2.cvtColor(img, cv2.COLOR_YUV2BGR_YUYV), gray=img[:, :, 0])
    raise ImageDecodeError("unsupported_encoding", f"raw encoding {encoding!r} not handled")


def _gray_from_16bit(buf: Any, width: int, height: int, step: int, bigendian: Any) -> np.ndarray:
    """8-bit gray of ``mono16``/``16UC1`` data, scaled to the bits the data occupies.

    Cameras with 10-, 12- or 14-bit sensors deliver ``mono16`` whose high bits are always
    zero; keeping the high byte made such frames black (values 0..15 for 12 bit). The frame's
    brightest pixel tells how many bits are in use, rounded up to 10, 12, 14 or 16, and the
    values are shifted down by that many bits minus 8: a 12-bit frame maps 0..4095 to 0..255,
    full-range 16-bit data keeps its high byte as before. The mapping depends on the frame
    alone (no state), so the node and the offline tool decode alike.
    """
    values = np.ndarray(
        shape=(height, width),
        dtype=np.dtype(">u2" if bigendian else "<u2"),
        buffer=buf,
        strides=(step, 2),
    )
    bits = max(8, int(values.max()).bit_length())
    shift = min(16, bits + bits % 2) - 8
    return (values >> shift).astype(np.uint8)


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(b: bytes) -> tuple[int, int] | None:
    """Return (width, height) from a JPEG's SOF marker, or None if not found."""
    i, n = 2, len(b)
    while i + 4 <= n:
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (seg_len,) = struct.unpack(">H", b[i + 2 : i + 4])
        if marker in _JPEG_SOF and i + 9 <= n:
            h, w = struct.unpack(">HH", b[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + seg_len
    return None


def _decode_jpeg_strict(raw: bytes, gray: bool) -> np.ndarray:
    """Decode with libjpeg-turbo (simplejpeg), treating its warnings as errors.

    A JPEG cut short is "decoded" by libjpeg with grey rows and only a warning, also when an
    end-of-image marker was appended to the cut data, so looking at the last bytes cannot tell;
    the decoder itself can. Bytes after a complete image's end-of-image marker are ignored.
    """
    try:
        img = simplejpeg.decode_jpeg(raw, colorspace="GRAY" if gray else "BGR", strict=True)
    except ValueError as exc:
        raise ImageDecodeError("corrupt_compressed", f"JPEG: {exc}") from None
    return img[:, :, 0] if gray else img


def _sniff(b: bytes) -> str | None:
    if b[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if b[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def decode_compressed_image(
    fmt: str,
    data: Any,
    config: DecodeConfig | None = None,
) -> DecodedImage:
    """Decode the fields of a ``sensor_msgs/CompressedImage`` (JPEG or PNG).

    ``fmt`` may be a bare "jpeg"/"png" or image_transport's "rgb8; jpeg compressed bgr8"; the
    container is also sniffed from the magic bytes, which is what decides. The image size is
    read from the header and checked against ``max_pixels`` before decompression, and a JPEG
    whose data is incomplete is rejected (libjpeg would otherwise return a half-grey frame,
    which the model would read as a sudden facial movement; see :func:`_decode_jpeg_strict`).
    """
    cfg = config or DecodeConfig()
    fmt_l = (fmt or "").strip().lower()
    if "compresseddepth" in fmt_l:
        raise ImageDecodeError("unsupported_encoding", f"format {fmt!r} (depth) not supported")
    tokens = set(re.split(r"[^a-z0-9]+", fmt_l)) - {""}
    declared = "jpeg" if tokens & {"jpeg", "jpg"} else "png" if "png" in tokens else None
    if fmt_l and declared is None:
        raise ImageDecodeError("unsupported_encoding", f"compressed format {fmt!r} not supported")
    nbytes = _buffer_length(data)
    if nbytes == 0:
        raise ImageDecodeError("empty", "compressed data is empty")
    raw = bytes(data) if not isinstance(data, bytes) else data
    kind = _sniff(raw)
    if kind is None:
        raise ImageDecodeError(
            "corrupt_compressed", f"data is neither JPEG nor PNG (declared {fmt!r})"
        )
    if kind == "png":
        if len(raw) < 24 or raw[12:16] != b"IHDR":
            raise ImageDecodeError("corrupt_compressed", "PNG header truncated")
        w, h = struct.unpack(">II", raw[16:24])
    else:
        size = _jpeg_size(raw)
        if size is None:
            raise ImageDecodeError("corrupt_compressed", "JPEG has no frame header")
        w, h = size
    if w == 0 or h == 0:
        raise ImageDecodeError("zero_size", f"compressed image header says {w}x{h}")
    if w * h > cfg.max_pixels:
        raise ImageDecodeError("too_large", f"{w}x{h} exceeds max_pixels={cfg.max_pixels}")
    if kind == "jpeg":
        img = _decode_jpeg_strict(raw, cfg.compressed_gray_only)
    else:
        flag = cv2.IMREAD_GRAYSCALE if cfg.compressed_gray_only else cv2.IMREAD_COLOR
        img = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), flag)
    if img is None or img.size == 0:
        raise ImageDecodeError("corrupt_compressed", f"cv2.imdecode failed for {kind}")
    if img.shape[:2] != (h, w):
        raise ImageDecodeError(
            "corrupt_compressed", f"decoded {img.shape[1]}x{img.shape[0]}, header {w}x{h}"
        )
    if img.ndim == 2:
        return DecodedImage(kind, gray=img)
    return DecodedImage(kind, bgr=img)


def message_stamp_ns(header: Any) -> int:
    """Nanoseconds of a ``std_msgs/Header`` stamp; refuses stamps that are not a valid time.

    ``builtin_interfaces/Time`` needs ``0 <= nanosec < 1e9``; a larger ``nanosec`` (or a
    negative ``sec``, before 1970) is a broken stamp, and carrying it into the outputs would
    overflow their ``int32`` seconds (a stamp near 2038 wrapped to -2147483645).
    """
    sec, nanosec = int(header.stamp.sec), int(header.stamp.nanosec)
    if not 0 <= nanosec < NS_PER_S:
        raise ImageDecodeError("bad_stamp", f"stamp nanosec={nanosec} is not in [0, 1e9)")
    if sec < 0:
        raise ImageDecodeError("bad_stamp", f"stamp sec={sec} is negative")
    return to_ns(sec, nanosec)


def decode_message(msg: Any, compressed: bool, config: DecodeConfig | None = None) -> DecodedImage:
    """Decode a ``sensor_msgs/Image`` (``compressed=False``) or ``CompressedImage`` message.

    Duck-typed on the message's fields, so rclpy messages (live node) and rosbags messages
    (offline tool) take the same path. A message whose stamp is not a valid time is refused
    too (:func:`message_stamp_ns`): both would otherwise carry it into their outputs.
    """
    message_stamp_ns(msg.header)
    if compressed:
        return decode_compressed_image(msg.format, msg.data, config)
    return decode_raw_image(
        msg.encoding, msg.width, msg.height, msg.step, msg.is_bigendian, msg.data, config
    )
