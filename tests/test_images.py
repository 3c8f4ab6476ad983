"""Tests for core.images: every test image is built in memory with Pillow or by hand."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin, features

from core import images
from core.errors import ImageError, UserError
from core.images import decode_image, encode_png, image_from_array

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def save(img: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def rgb_image(pixels) -> Image.Image:
    return Image.fromarray(np.array(pixels, dtype=np.uint8), mode="RGB")


def noisy_rgb(width: int = 64, height: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return rgb_image(rng.integers(0, 256, (height, width, 3)))


def png_header_only_bomb(width: int, height: int) -> bytes:
    """A valid all-black 1-bit greyscale PNG, built without ever holding the pixels in memory."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row * 500) for _ in range(height // 500))
    idat += compressor.compress(row * (height % 500)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --- formats and modes -----------------------------------------------------------------------


def test_rgb_png_roundtrip_keeps_exact_pixels():
    source = np.array(noisy_rgb(7, 5))
    decoded = decode_image(save(Image.fromarray(source), "PNG"), "a.png")
    assert decoded.pixels.shape == (5, 7, 3)
    np.testing.assert_array_equal(decoded.pixels, source)
    assert (decoded.width, decoded.height, decoded.name) == (7, 5, "a.png")


def test_jpeg_decodes_to_height_width_3_close_to_the_source():
    decoded = decode_image(save(Image.new("RGB", (40, 24), (200, 30, 60)), "JPEG", quality=95))
    assert decoded.pixels.shape == (24, 40, 3)
    assert np.abs(decoded.pixels.astype(int) - (200, 30, 60)).max() <= 3


def test_exif_orientation_6_rotates_clockwise():
    img = Image.new("RGB", (4, 2), GREEN)
    img.putpixel((0, 0), RED)  # top-left of the stored image
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    decoded = decode_image(save(img, "PNG", exif=exif))
    assert decoded.pixels.shape == (4, 2, 3)
    assert tuple(decoded.pixels[0, 1]) == RED  # top-left moved to top-right
    assert tuple(decoded.pixels[0, 0]) == GREEN


def test_rgba_transparency_is_composited_on_the_background():
    row = [[255, 0, 0, 128], [0, 0, 0, 0], [10, 20, 30, 255]]
    rgba = Image.fromarray(np.array([row], np.uint8), "RGBA")
    data = save(rgba, "PNG")
    on_white = decode_image(data).pixels
    assert on_white[0].tolist() == [[255, 127, 127], [255, 255, 255], [10, 20, 30]]
    on_black = decode_image(data, background=(0, 0, 0)).pixels
    assert on_black[0].tolist() == [[128, 0, 0], [0, 0, 0], [10, 20, 30]]


def test_palette_transparency_index_becomes_background_not_black():
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    img.putdata([0, 1])
    decoded = decode_image(save(img, "PNG", transparency=1))
    assert decoded.pixels[0].tolist() == [[255, 0, 0], [255, 255, 255]]


def test_palette_gif_transparency_becomes_background():
    img = Image.new("P", (2, 1))
    img.putpalette([0, 0, 255, 9, 9, 9] + [0] * 762)
    img.putdata([0, 1])
    decoded = decode_image(save(img, "GIF", transparency=1), background=(1, 2, 3))
    assert decoded.pixels[0].tolist() == [[0, 0, 255], [1, 2, 3]]


def test_la_is_composited_and_replicated():
    la = Image.fromarray(np.array([[[100, 0], [100, 255], [100, 128]]], np.uint8), "LA")
    decoded = decode_image(save(la, "PNG"))
    # 100·128/255 + 255·127/255 = 177.7 → 177 after rounding the sum to nearest
    assert decoded.pixels[0].tolist() == [[255] * 3, [100] * 3, [177] * 3]


def test_greyscale_is_replicated_to_three_channels():
    grey = Image.fromarray(np.array([[0, 77, 255]], np.uint8), "L")
    assert decode_image(save(grey, "PNG")).pixels[0].tolist() == [[0] * 3, [77] * 3, [255] * 3]


def test_one_bit_image_becomes_black_and_white_rgb():
    img = Image.new("1", (2, 1))
    img.putpixel((1, 0), 1)
    for fmt in ("PNG", "BMP", "TIFF"):
        assert decode_image(save(img, fmt)).pixels[0].tolist() == [[0] * 3, [255] * 3], fmt


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_greyscale_is_scaled_by_257(fmt):
    img = Image.fromarray(np.array([[0, 257, 32896, 65535]], np.uint16))
    assert img.mode == "I;16"
    decoded = decode_image(save(img, fmt))
    assert decoded.pixels[0, :, 0].tolist() == [0, 1, 128, 255]
    assert decoded.pixels.dtype == np.uint8


def test_32_bit_int_mode_fitting_16_bits_is_treated_as_16_bit():
    img = Image.fromarray(np.array([[-5, 0, 32896, 65535]], np.int32), "I")
    decoded = decode_image(save(img, "TIFF"))
    assert decoded.pixels[0, :, 0].tolist() == [0, 0, 128, 255]


def test_32_bit_int_mode_beyond_16_bits_uses_the_int32_range():
    top = 2**31 - 1
    img = Image.fromarray(np.array([[0, top // 255 * 100, top]], np.int32), "I")
    assert decode_image(save(img, "TIFF")).pixels[0, :, 1].tolist() == [0, 100, 255]


def test_float_mode_up_to_one_is_scaled_to_255():
    img = Image.fromarray(np.array([[0.0, 0.5, 1.0, -0.2]], np.float32), "F")
    assert decode_image(save(img, "TIFF")).pixels[0, :, 2].tolist() == [0, 128, 255, 0]


def test_float_mode_above_one_is_clipped_to_0_255():
    img = Image.fromarray(np.array([[0.0, 100.4, 300.0, np.nan]], np.float32), "F")
    assert decode_image(save(img, "TIFF")).pixels[0, :, 0].tolist() == [0, 100, 255, 0]


def test_cmyk_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (2, 1))
    cmyk.putpixel((0, 0), (0, 0, 0, 0))
    cmyk.putpixel((1, 0), (255, 0, 0, 0))  # full cyan
    assert decode_image(save(cmyk, "TIFF")).pixels[0].tolist() == [[255, 255, 255], [0, 255, 255]]


def test_cmyk_jpeg_decodes_to_rgb():
    decoded = decode_image(save(Image.new("CMYK", (16, 8), (0, 0, 0, 0)), "JPEG", quality=95))
    assert decoded.pixels.shape == (8, 16, 3)
    assert decoded.pixels.min() >= 250


def test_animated_gif_takes_frame_zero():
    frames = [Image.new("RGB", (4, 4), RED), Image.new("RGB", (4, 4), BLUE)]
    data = save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert np.all(decode_image(data).pixels == RED)


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_animated_webp_takes_frame_zero():
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    data = save(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert np.all(decode_image(data).pixels == RED)


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_bmp_and_webp_are_accepted():
    source = np.array(noisy_rgb(5, 3))
    np.testing.assert_array_equal(decode_image(save(Image.fromarray(source), "BMP")).pixels, source)
    webp = decode_image(save(Image.fromarray(source), "WEBP", lossless=True)).pixels
    np.testing.assert_array_equal(webp, source)


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_an_image_error(fmt):
    data = save(noisy_rgb(), fmt)
    expected = r"^broken\.x is truncated or corrupt; re-export it"
    with pytest.raises(ImageError, match=expected) as info:
        decode_image(data[: len(data) // 2], "broken.x")
    assert info.value.__cause__ is not None


def test_random_bytes_are_not_an_image():
    data = random.Random(1).randbytes(2048)
    expected = r"^noise\.bin is not an image this app can open; upload a PNG, JPEG"
    with pytest.raises(ImageError, match=expected):
        decode_image(data, "noise.bin")


def test_text_file_is_not_an_image():
    with pytest.raises(ImageError, match=r"^notes\.txt is not an image"):
        decode_image(b"hello, this is not a picture\n" * 20, "notes.txt")


def test_format_outside_the_allowed_list_is_refused():
    ico = save(Image.new("RGB", (16, 16), RED), "ICO")
    assert Image.open(io.BytesIO(ico)).format == "ICO"  # Pillow itself could read it
    with pytest.raises(ImageError, match="is not an image"):
        decode_image(ico, "icon.ico")


def test_empty_bytes_are_an_image_error():
    with pytest.raises(ImageError, match=r"^empty\.png is empty"):
        decode_image(b"", "empty.png")


def test_over_max_bytes_is_refused_before_decoding(monkeypatch):
    opened = []
    monkeypatch.setattr(images.Image, "open", lambda *a, **k: opened.append(a))
    data = b"\x00" * (3 * 2**20 + 2**19)
    with pytest.raises(ImageError) as info:
        decode_image(data, "big.png", max_bytes=2 * 2**20)
    assert str(info.value) == ("big.png is 3.5 MB; the limit is 2 MB — compress or resize it and upload again.")
    assert opened == []


def test_default_byte_limit_message_uses_megabytes():
    with pytest.raises(ImageError, match=r"is 25\.1 MB; the limit is 25 MB"):
        decode_image(b"\x00" * (images.MAX_BYTES + 2**17), "big.png")


def test_over_max_pixels_is_refused_with_the_size_in_the_message():
    data = save(Image.new("RGB", (10, 10)), "PNG")
    assert decode_image(data, max_pixels=100).width == 10
    with pytest.raises(ImageError) as info:
        decode_image(data, "holiday.png", max_pixels=99)
    assert str(info.value) == ("holiday.png is 10×10 pixels; the limit is 99 pixels — resize it and upload again.")


def test_header_over_the_pixel_limit_is_refused_without_loading(monkeypatch):
    data = png_header_only_bomb(7000, 7000)  # 49 Mpx: under Pillow's own bomb threshold
    loads = []
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", lambda self: loads.append(self))
    expected = r"^bomb\.png is 7000×7000 pixels; the limit is 40 megapixels"
    with pytest.raises(ImageError, match=expected):
        decode_image(data, "bomb.png")
    assert loads == []


def test_decompression_bomb_is_refused():
    data = png_header_only_bomb(20000, 20000)  # 400 Mpx that compress to a few hundred KB
    assert len(data) < 1_000_000
    expected = r"^bomb\.png has too many pixels to decode safely"
    with pytest.raises(ImageError, match=expected) as info:
        decode_image(data, "bomb.png", max_pixels=10**9)
    assert isinstance(info.value.__cause__, Image.DecompressionBombError)


def test_decompression_bomb_warning_is_an_error():
    data = png_header_only_bomb(10000, 10000)  # 100 Mpx: Pillow only warns at this size
    with pytest.raises(ImageError, match="too many pixels") as info:
        decode_image(data, "bomb.png", max_pixels=10**9)
    assert isinstance(info.value.__cause__, Image.DecompressionBombWarning)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt TIFF tags
def test_corrupted_bytes_only_ever_raise_image_error():
    rng = random.Random(7)
    formats = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
    originals = [save(noisy_rgb(16, 12), fmt) for fmt in formats]
    for _ in range(150):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            decoded = decode_image(bytes(data[: rng.randint(1, len(data))]), "fuzz.img")
        except ImageError as error:
            assert str(error).startswith("fuzz.img ") and "\n" not in str(error)
        else:
            assert decoded.pixels.dtype == np.uint8 and decoded.pixels.shape[2] == 3


def test_image_error_is_a_user_error():
    with pytest.raises(UserError):
        decode_image(b"")


# --- result properties -----------------------------------------------------------------------


def test_pixels_are_read_only_uint8_c_contiguous():
    pixels = decode_image(save(noisy_rgb(), "PNG")).pixels
    assert pixels.dtype == np.uint8 and pixels.flags.c_contiguous and not pixels.flags.writeable
    with pytest.raises(ValueError):
        pixels[0, 0, 0] = 1


def test_sha256_is_the_digest_of_the_uploaded_bytes():
    data = save(noisy_rgb(), "PNG")
    assert decode_image(data).sha256 == hashlib.sha256(data).hexdigest()


def test_same_bytes_give_the_same_hash_and_different_bytes_a_different_one():
    a, b = save(Image.new("RGB", (3, 3), RED), "PNG"), save(Image.new("RGB", (3, 3), BLUE), "PNG")
    assert decode_image(a, "x.png").sha256 == decode_image(a, "y.png").sha256
    assert decode_image(a).sha256 != decode_image(b).sha256


def test_decoded_image_is_frozen():
    decoded = decode_image(save(Image.new("RGB", (2, 2)), "PNG"))
    with pytest.raises(AttributeError):
        decoded.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/evil\nname.png", "evilname.png"),
        ("C:\\Users\\me\\photo\x1b[31m.png", "photo[31m.png"),
        ("/tmp/dir/", "image"),
        ("\u202egnp.exe", "gnp.exe"),
    ],
)
def test_file_name_is_reduced_to_a_clean_base_name(given, shown):
    with pytest.raises(ImageError) as info:
        decode_image(b"not an image", given)
    message = str(info.value)
    assert message.startswith(f"{shown} is not an image")
    assert "\n" not in message and "/" not in message and "\x1b" not in message
    assert decode_image(save(Image.new("RGB", (1, 1)), "PNG"), given).name == shown


def test_very_long_names_are_shortened():
    assert images.clean_name("a" * 300 + ".png") == "a" * 77 + "..."


# --- image_from_array and encode_png ---------------------------------------------------------


def test_image_from_array_accepts_rgb_grey_and_rgba():
    rgb = np.array([[RED, BLUE]], np.uint8)
    assert image_from_array(rgb, "rgb").pixels.tolist() == [[list(RED), list(BLUE)]]
    grey = np.array([[0, 200]], np.uint8)
    assert image_from_array(grey, "grey").pixels.tolist() == [[[0] * 3, [200] * 3]]
    rgba = np.array([[[255, 0, 0, 128], [9, 9, 9, 0]]], np.uint8)
    decoded = image_from_array(rgba, "rgba")
    assert decoded.pixels.tolist() == [[[255, 127, 127], [255, 255, 255]]]
    assert not decoded.pixels.flags.writeable and decoded.pixels.flags.c_contiguous


def test_image_from_array_does_not_alias_the_callers_array():
    rgb = np.zeros((2, 2, 3), np.uint8)
    decoded = image_from_array(rgb, "sample")
    rgb[:] = 9
    assert decoded.pixels.max() == 0


def test_image_from_array_hash_depends_on_pixels_and_shape():
    flat = np.arange(24, dtype=np.uint8)
    a = image_from_array(flat.reshape(2, 4, 3), "a")
    assert a.sha256 == image_from_array(flat.reshape(2, 4, 3).copy(), "b").sha256
    assert a.sha256 != image_from_array(flat.reshape(4, 2, 3), "a").sha256
    assert a.sha256 != image_from_array(flat.reshape(2, 4, 3) + 1, "a").sha256
    assert len(a.sha256) == 64


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4, 3), np.uint16),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 3, 1), np.uint8),
        np.zeros((4,), np.uint8),
        np.zeros((0, 4, 3), np.uint8),
    ],
)
def test_image_from_array_rejects_wrong_dtype_or_shape(bad):
    with pytest.raises(ImageError, match=r"^sample\.npy has "):
        image_from_array(bad, "sample.npy")


def test_encode_png_roundtrips_through_decode_image():
    source = np.array(noisy_rgb(9, 4))
    data = encode_png(source)
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(decode_image(data).pixels, source)
    np.testing.assert_array_equal(encode_png(decode_image(data).pixels), data)


def test_encode_png_refuses_non_rgb_uint8():
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError):
        encode_png(np.zeros((2, 2, 3), np.float64))


def test_bad_background_is_a_programming_error():
    with pytest.raises(ValueError):
        decode_image(save(Image.new("RGB", (1, 1)), "PNG"), background=(0, 0, 256))


def test_decoded_image_dataclass_fields():
    decoded = image_from_array(np.zeros((3, 5, 3), np.uint8), "z")
    assert (decoded.width, decoded.height) == (5, 3)
