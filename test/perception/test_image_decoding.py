"""Decoding of every supported encoding against an independent reference conversion."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest

from me_perception.perception.image_decoding import (
    DecodeConfig,
    ImageDecodeError,
    decode_compressed_image,
    decode_message,
    decode_raw_image,
)

RNG = np.random.default_rng(1)
H, W = 24, 32
BGR = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _padded(arr: np.ndarray, pad: int) -> tuple[bytes, int]:
    """Rows of ``arr`` as bytes with ``pad`` junk bytes after each row, plus the step."""
    rows = arr.reshape(arr.shape[0], -1).view(np.uint8)
    junk = np.full((rows.shape[0], pad), 0xAB, np.uint8)
    full = np.concatenate([rows, junk], axis=1)
    return full.tobytes(), full.shape[1]


def _ref_gray(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize(
    "encoding,make",
    [
        ("bgr8", lambda b: b),
        ("8UC3", lambda b: b),
        ("rgb8", lambda b: b[:, :, ::-1]),
        ("bgra8", lambda b: np.dstack([b, np.full(b.shape[:2], 7, np.uint8)])),
        ("rgba8", lambda b: np.dstack([b[:, :, ::-1], np.full(b.shape[:2], 7, np.uint8)])),
    ],
)
def test_colour_encodings(encoding, make, pad):
    src = np.ascontiguousarray(make(BGR))
    data, step = _padded(src, pad)
    img = decode_raw_image(encoding, W, H, step, False, data)
    np.testing.assert_array_equal(img.bgr, BGR)
    np.testing.assert_array_equal(img.gray, _ref_gray(BGR))
    assert img.bgr.dtype == np.uint8 and img.bgr.shape == (H, W, 3)


def test_bgr8_is_zero_copy():
    buf = bytearray(BGR.tobytes())
    img = decode_raw_image("bgr8", W, H, W * 3, 0, buf)
    assert np.shares_memory(img.bgr, np.frombuffer(buf, np.uint8))


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
@pytest.mark.parametrize("pad", [0, 3])
def test_mono8(encoding, pad):
    gray = _ref_gray(BGR)
    data, step = _padded(gray, pad)
    img = decode_raw_image(encoding, W, H, step, False, array.array("B", data))
    np.testing.assert_array_equal(img.gray, gray)
    np.testing.assert_array_equal(img.bgr, np.dstack([gray] * 3))


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
@pytest.mark.parametrize("bigendian", [False, True])
def test_16bit_full_range_keeps_the_high_byte(encoding, bigendian):
    v = RNG.integers(0, 65536, (H, W)).astype(">u2" if bigendian else "<u2")
    v[0, 0] = 65535  # uses all 16 bits
    data, step = _padded(v, 4)
    img = decode_raw_image(encoding, W, H, step, bigendian, data)
    np.testing.assert_array_equal(img.gray, (v.astype(np.uint32) >> 8).astype(np.uint8))


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
@pytest.mark.parametrize("bits", [10, 12])
@pytest.mark.parametrize("bigendian", [False, True])
def test_16bit_containers_of_10_and_12_bit_data_are_scaled_to_their_range(
    encoding, bits, bigendian
):
    """A 12-bit camera in mono16 never sets the high 4 bits: keeping the high byte gave a
    black image (values 0..15) and no face."""
    gray = _ref_gray(BGR)
    v = (gray.astype(np.uint16) << (bits - 8)).astype(">u2" if bigendian else "<u2")
    v |= RNG.integers(0, 1 << (bits - 8), v.shape).astype(v.dtype)  # the low bits too
    data, step = _padded(v, 2)
    img = decode_raw_image(encoding, W, H, step, bigendian, data)
    np.testing.assert_array_equal(img.gray, gray)


def _yuv_from_bgr(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV).astype(np.int32)
    y = yuv[:, :, 0]
    u = ((yuv[:, 0::2, 1] + yuv[:, 1::2, 1]) // 2).astype(np.uint8)
    v = ((yuv[:, 0::2, 2] + yuv[:, 1::2, 2]) // 2).astype(np.uint8)
    return y.astype(np.uint8), u, v


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_yuv422(encoding):
    smooth = cv2.GaussianBlur(BGR, (0, 0), 3)
    y, u, v = _yuv_from_bgr(smooth)
    packed = np.empty((H, W, 2), np.uint8)
    if encoding in ("yuv422", "uyvy"):
        packed[:, :, 1] = y
        packed[:, 0::2, 0], packed[:, 1::2, 0] = u, v
    else:
        packed[:, :, 0] = y
        packed[:, 0::2, 1], packed[:, 1::2, 1] = u, v
    data, step = _padded(packed, 6)
    img = decode_raw_image(encoding, W, H, step, False, data)
    np.testing.assert_array_equal(img.gray, y)
    # Reference: BT.601 limited-range YCbCr -> RGB written out by hand (what OpenCV's 4:2:2
    # conversions implement), with each chroma pair shared by two pixels.
    yf = y.astype(float) - 16.0
    uf = np.repeat(u, 2, axis=1).astype(float) - 128.0
    vf = np.repeat(v, 2, axis=1).astype(float) - 128.0
    r = 1.164 * yf + 1.596 * vf
    g = 1.164 * yf - 0.391 * uf - 0.813 * vf
    b = 1.164 * yf + 2.018 * uf
    ref = np.clip(np.rint(np.dstack([b, g, r])), 0, 255)
    err = np.abs(img.bgr.astype(float) - ref)
    assert err.max() <= 2.0, err.max()


@pytest.mark.parametrize(
    "encoding,pattern",
    [
        ("bayer_rggb8", "RGGB"),
        ("bayer_bggr8", "BGGR"),
        ("bayer_gbrg8", "GBRG"),
        ("bayer_grbg8", "GRBG"),
    ],
)
def test_bayer(encoding, pattern):
    smooth = cv2.GaussianBlur(cv2.resize(BGR, (64, 48)), (0, 0), 4)
    chan = {"B": 0, "G": 1, "R": 2}
    mosaic = np.empty(smooth.shape[:2], np.uint8)
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        mosaic[dy::2, dx::2] = smooth[dy::2, dx::2, chan[pattern[k]]]
    img = decode_raw_image(encoding, 64, 48, 64, False, mosaic.tobytes())
    err = np.abs(img.bgr.astype(int) - smooth.astype(int))[4:-4, 4:-4]
    assert err.mean() < 4.0, err.mean()


@pytest.mark.parametrize("fmt", ["jpeg", "rgb8; jpeg compressed bgr8", "JPG"])
def test_jpeg(fmt):
    smooth = cv2.GaussianBlur(BGR, (0, 0), 2)
    ok, enc = cv2.imencode(".jpg", smooth, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    img = decode_compressed_image(fmt, enc.tobytes())
    np.testing.assert_array_equal(img.bgr, cv2.imdecode(enc, cv2.IMREAD_COLOR))


@pytest.mark.parametrize("fmt", ["png", "bgr8; png compressed bgr8", ""])
def test_png_lossless(fmt):
    ok, enc = cv2.imencode(".png", BGR)
    assert ok
    img = decode_compressed_image(fmt, array.array("B", enc.tobytes()))
    np.testing.assert_array_equal(img.bgr, BGR)
    np.testing.assert_array_equal(img.gray, _ref_gray(BGR))


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_compressed_gray_only(ext):
    smooth = cv2.GaussianBlur(BGR, (0, 0), 2)
    enc = cv2.imencode(ext, smooth)[1]
    img = decode_compressed_image("", enc.tobytes(), DecodeConfig(compressed_gray_only=True))
    np.testing.assert_array_equal(img.gray, cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE))
    assert img.bgr.shape == (H, W, 3)


@pytest.mark.parametrize(
    "args,reason",
    [
        (("hsv8", W, H, W * 3, 0, BGR.tobytes()), "unsupported_encoding"),
        (("bgr8", 0, H, 0, 0, b""), "zero_size"),
        (("bgr8", W, 0, W * 3, 0, b""), "zero_size"),
        (("bgr8", W, H, W * 3, 0, b""), "empty"),
        (("bgr8", W, H, W * 3, 0, BGR.tobytes()[:-1]), "size_mismatch"),
        (("bgr8", W, H, W * 3, 0, BGR.tobytes() + b"x"), "size_mismatch"),
        (("bgr8", W, H, W * 2, 0, BGR.tobytes()[: W * 2 * H]), "size_mismatch"),
        (("yuyv", 3, 2, 6, 0, bytes(12)), "size_mismatch"),
        (("mono8", 5000, 5000, 5000, 0, b"\0"), "too_large"),
    ],
)
def test_raw_errors(args, reason):
    with pytest.raises(ImageDecodeError) as exc:
        decode_raw_image(*args)
    assert exc.value.reason == reason
    assert exc.value.message


def test_max_pixels_configurable():
    with pytest.raises(ImageDecodeError) as exc:
        decode_raw_image("bgr8", W, H, W * 3, 0, BGR.tobytes(), DecodeConfig(max_pixels=100))
    assert exc.value.reason == "too_large"


def _jpeg_bytes(shape: tuple[int, int] = (H, W)) -> bytes:
    img = cv2.resize(BGR, (shape[1], shape[0]))
    return cv2.imencode(".jpg", img)[1].tobytes()


@pytest.mark.parametrize(
    "fmt,data,reason",
    [
        ("jpeg", b"", "empty"),
        ("tiff", b"II*\0", "unsupported_encoding"),
        ("16UC1; compressedDepth png", b"\x89PNG", "unsupported_encoding"),
        ("jpeg", b"not an image at all", "corrupt_compressed"),
        ("jpeg", _jpeg_bytes()[: len(_jpeg_bytes()) // 2], "corrupt_compressed"),
        ("png", cv2.imencode(".png", BGR)[1].tobytes()[:-40], "corrupt_compressed"),
        ("png", cv2.imencode(".png", BGR)[1].tobytes()[:20], "corrupt_compressed"),
    ],
)
def test_compressed_errors(fmt, data, reason):
    with pytest.raises(ImageDecodeError) as exc:
        decode_compressed_image(fmt, data)
    assert exc.value.reason == reason


def test_compressed_too_large_checked_before_decoding():
    big = _jpeg_bytes((300, 400))
    with pytest.raises(ImageDecodeError) as exc:
        decode_compressed_image("jpeg", big, DecodeConfig(max_pixels=300 * 399))
    assert exc.value.reason == "too_large"
    png = cv2.imencode(".png", np.zeros((300, 400, 3), np.uint8))[1].tobytes()
    with pytest.raises(ImageDecodeError) as exc:
        decode_compressed_image("png", png, DecodeConfig(max_pixels=1000))
    assert exc.value.reason == "too_large"


def test_jpeg_cut_short_with_an_end_marker_appended_is_refused():
    """libjpeg fills the missing rows with grey and only warns: the frame would look like a
    sudden facial movement to the model."""
    whole = _jpeg_bytes()
    for cut in (0.3, 0.6, 0.9):
        data = whole[: int(len(whole) * cut)] + b"\xff\xd9"
        with pytest.raises(ImageDecodeError) as exc:
            decode_compressed_image("jpeg", data)
        assert exc.value.reason == "corrupt_compressed", cut
    progressive = cv2.imencode(".jpg", BGR, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    with pytest.raises(ImageDecodeError):
        decode_compressed_image("jpeg", progressive[: len(progressive) * 2 // 3] + b"\xff\xd9")


def test_valid_jpeg_with_bytes_after_the_end_marker_is_decoded():
    """Some encoders and transports pad or append metadata after EOI: the image is whole."""
    whole = _jpeg_bytes()
    expected = decode_compressed_image("jpeg", whole).bgr
    for tail in (b"\x00\x01trailer", b"\xff\xd8 padding", b"\x00" * 7):
        np.testing.assert_array_equal(decode_compressed_image("jpeg", whole + tail).bgr, expected)


def test_corrupt_jpeg_body():
    data = bytearray(_jpeg_bytes((64, 64)))
    # Destroy the Huffman tables / scan header but keep SOI, SOF and EOI.
    sos = data.find(b"\xff\xda")
    data[sos : sos + 12] = b"\x00" * 12
    with pytest.raises(ImageDecodeError) as exc:
        decode_compressed_image("jpeg", bytes(data))
    assert exc.value.reason == "corrupt_compressed"


@pytest.mark.parametrize(
    "sec,nanosec",
    [(2**31 - 1, 4_000_000_000), (5, 1_000_000_000), (-3, 0)],
)
def test_messages_with_invalid_stamps_are_refused(sec, nanosec):
    """The node and the offline tool both decode through decode_message: a stamp that is not
    a valid builtin_interfaces/Time never reaches the outputs (where sec wrapped around)."""
    from sensor_msgs.msg import Image

    msg = Image(encoding="bgr8", width=W, height=H, step=W * 3, data=BGR.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    with pytest.raises(ImageDecodeError) as exc:
        decode_message(msg, False)
    assert exc.value.reason == "bad_stamp"
    msg.header.stamp.sec, msg.header.stamp.nanosec = 2**31 - 1, 999_999_999  # the last valid
    assert decode_message(msg, False).width == W
