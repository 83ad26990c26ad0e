"""Camera preprocessing: letterbox geometry, padding, tensor layout, boxes mapped back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from agent.senses.image.preprocess import (
    FrameGeometry,
    FramePreparer,
    Letterbox,
    denoise,
)

GREY = 114 / 255
RED_BGR = (0, 0, 255)


def solid(width: int, height: int, bgr: tuple[int, int, int] = RED_BGR) -> np.ndarray:
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:] = bgr
    return frame


@pytest.mark.parametrize(
    ("source", "size", "scale", "pad", "content"),
    [
        ((640, 480), (640, 640), 1.0, (0, 80), (640, 480)),  # landscape into square
        ((480, 640), (640, 640), 1.0, (80, 0), (480, 640)),  # portrait into square
        ((1000, 500), (320, 320), 0.32, (0, 80), (320, 160)),  # shrink 2:1
        ((100, 51), (64, 64), 0.64, (0, 15), (64, 33)),  # odd padding: 15 above, 16 below
        ((300, 300), (640, 384), 1.28, (128, 0), (384, 384)),  # non-square model input
    ],
)
def test_letterbox_geometry_padding_and_layout(
    source: tuple[int, int],
    size: tuple[int, int],
    scale: float,
    pad: tuple[int, int],
    content: tuple[int, int],
) -> None:
    tensor, geometry = FramePreparer(size).prepare(solid(*source))
    box = geometry.letterbox

    assert tensor.dtype == np.float32
    assert tensor.shape == (1, 3, size[1], size[0])
    assert tensor.flags.c_contiguous
    assert box.scale == pytest.approx(scale)
    assert (box.pad_x, box.pad_y) == pad
    assert box.source_size == source

    (left, top), (width, height) = pad, content
    inside = np.zeros(tensor.shape[2:], dtype=bool)
    inside[top : top + height, left : left + width] = True
    rgb = tensor[0]
    # Red BGR frame -> RGB tensor: R = 1, G = B = 0 on the image, exact grey 114 elsewhere.
    for channel, value in zip(rgb, (1.0, 0.0, 0.0), strict=True):
        np.testing.assert_allclose(channel[inside], value, atol=1e-6)
        np.testing.assert_allclose(channel[~inside], GREY, atol=1e-6)


def test_letterbox_rejects_grey_frames() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        FramePreparer((32, 32)).prepare(np.zeros((10, 10), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(4, 4096), (4096, 4), (1, 1)])
def test_a_frame_far_from_square_keeps_at_least_a_pixel_of_content(
    shape: tuple[int, int],
) -> None:
    """A line-scan-like frame: its short side, scaled, would round to no pixel at all."""
    frame = np.full((*shape, 3), 200, dtype=np.uint8)
    tensor, _ = FramePreparer((192, 192)).prepare(frame)
    assert tensor.shape == (1, 3, 192, 192) and np.isfinite(tensor).all()
    assert tensor.max() > GREY  # the frame's content is in there


def test_letterbox_maps_boxes_back_and_clips() -> None:
    box = Letterbox(scale=0.5, pad_x=0, pad_y=80, source_size=(640, 480))
    mapped = box.to_source(np.array([[10, 90, 110, 190], [-5, 0, 700, 400]], dtype=np.float32))
    np.testing.assert_allclose(mapped, [[20, 20, 220, 220], [0, 0, 640, 480]])


def test_prepared_frame_maps_boxes_to_original_pixels() -> None:
    # 1000x500 captured, resized to 640x480 (x 0.64, y 0.96), letterboxed to 320x320
    # (scale 0.5, 40 px grey above and below).
    tensor, geometry = FramePreparer((320, 320), (640, 480)).prepare(solid(1000, 500))

    assert tensor.shape == (1, 3, 320, 320)
    assert geometry.original_size == (1000, 500)
    assert geometry.letterbox == Letterbox(0.5, 0, 40, (640, 480))
    model_box = np.array([[110, 140, 210, 180]], dtype=np.float32)
    expected = [[220 / 0.64, 200 / 0.96, 420 / 0.64, 280 / 0.96]]
    np.testing.assert_allclose(geometry.to_original(model_box), expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("original", "frame_size", "input_size", "rect"),
    [
        ((320, 240), (640, 480), (640, 640), (40, 30, 200, 130)),
        ((400, 300), (640, 480), (640, 640), (13, 250, 61, 299)),
        ((200, 100), (640, 480), (320, 320), (150, 7, 190, 93)),  # non-uniform resize
        ((480, 640), (480, 640), (640, 384), (100, 200, 300, 500)),  # portrait, wide input
        ((200, 200), None, (192, 192), (20, 30, 90, 180)),  # no resize: letterbox only
    ],
)
def test_drawn_box_round_trips_within_a_pixel(
    original: tuple[int, int],
    frame_size: tuple[int, int] | None,
    input_size: tuple[int, int],
    rect: tuple[int, int, int, int],
) -> None:
    x1, y1, x2, y2 = rect
    frame = np.zeros((original[1], original[0], 3), dtype=np.uint8)
    frame[y1:y2, x1:x2] = 255

    tensor, geometry = FramePreparer(input_size, frame_size).prepare(frame)

    rows, cols = np.nonzero(tensor[0, 0] > 0.5)
    found = np.array([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], np.float32)
    np.testing.assert_allclose(geometry.to_original(found), [rect], atol=1.0)


def test_to_original_clips_to_the_captured_frame() -> None:
    geometry = FrameGeometry(Letterbox(0.5, 0, 40, (640, 480)), (1000, 500))
    clipped = geometry.to_original(np.array([[-50, 0, 400, 400]], dtype=np.float32))
    np.testing.assert_allclose(clipped, [[0, 0, 1000, 500]])


def test_preparer_reuses_its_buffers_and_matches_a_fresh_one() -> None:
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (500, 1000, 3), dtype=np.uint8) for _ in range(2)]
    preparer = FramePreparer((320, 320), (640, 480))

    first, geometry = preparer.prepare(frames[0])
    expected = first.copy()
    second, _ = preparer.prepare(frames[1])
    assert second is first  # written in place: no allocation per frame
    fresh, fresh_geometry = FramePreparer((320, 320), (640, 480)).prepare(frames[1])
    np.testing.assert_array_equal(second, fresh)  # nothing of the first frame left over
    assert geometry == fresh_geometry
    assert not np.array_equal(second, expected)


def test_preparer_lays_out_again_when_the_frame_size_changes() -> None:
    preparer = FramePreparer((64, 64))
    preparer.prepare(solid(64, 32, (255, 255, 255)))  # white band, grey above and below
    tensor, geometry = preparer.prepare(solid(32, 64, (0, 0, 0)))  # black band, grey sides

    assert geometry.letterbox == Letterbox(1.0, 16, 0, (32, 64))
    np.testing.assert_allclose(tensor[0, :, :, 16:48], 0.0)
    np.testing.assert_allclose(tensor[0, :, :, :16], GREY, atol=1e-6)  # no white left over
    np.testing.assert_allclose(tensor[0, :, :, 48:], GREY, atol=1e-6)


def test_large_shrink_is_close_to_area_averaging_unlike_plain_bilinear() -> None:
    """1080p to a 192 input, on pixel-level noise (aliasing's worst case): the fast two-step
    shrink stays near OpenCV's full INTER_AREA, where one bilinear step is far off."""
    rng = np.random.default_rng(4)
    coarse = rng.integers(0, 256, (108, 192, 3), dtype=np.uint8)
    frame = cv2.resize(coarse, (1920, 1080), interpolation=cv2.INTER_CUBIC)
    frame = cv2.add(frame, rng.integers(0, 40, tuple(frame.shape), dtype=np.uint8))  # fine detail

    tensor, geometry = FramePreparer((192, 192), (640, 480)).prepare(frame)

    top = geometry.letterbox.pad_y
    fast = tensor[0, ::-1, top : top + 144].transpose(1, 2, 0) * 255  # back to BGR levels
    area = cv2.resize(frame, (192, 144), interpolation=cv2.INTER_AREA).astype(np.float32)
    bilinear = cv2.resize(frame, (192, 144), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    assert np.abs(fast - area).mean() < 2.5  # grey levels
    assert np.abs(bilinear - area).mean() > 4 * np.abs(fast - area).mean()


def test_denoise_smooths_noise_and_zero_sigma_is_a_no_op() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)

    assert denoise(noisy, 0.0) is noisy
    smoothed = denoise(noisy, 1.5)
    assert smoothed.shape == noisy.shape
    assert smoothed.dtype == np.uint8
    assert smoothed.std() < 0.5 * noisy.std()
    with pytest.raises(ValueError, match="sigma"):
        denoise(noisy, -1.0)


@pytest.mark.parametrize(
    ("source", "shape", "pad"),
    [
        ((1920, 1080), (128, 192), (0, 10)),  # 192x108 content, padded to 128 rows only
        ((1080, 1920), (192, 128), (10, 0)),  # portrait
        ((200, 200), (192, 192), (0, 0)),  # square: nothing to spare
        ((640, 480), (160, 192), (0, 8)),  # 192x144 content -> 160 rows
    ],
)
def test_rect_letterbox_pads_only_to_the_stride_like_ultralytics(
    source: tuple[int, int], shape: tuple[int, int], pad: tuple[int, int]
) -> None:
    tensor, geometry = FramePreparer((192, 192), stride=32).prepare(solid(*source))

    assert tensor.shape == (1, 3, *shape)
    assert (geometry.letterbox.pad_x, geometry.letterbox.pad_y) == pad
    np.testing.assert_allclose(
        tensor[0, 0, pad[1] : shape[0] - pad[1], pad[0] : shape[1] - pad[0]], 1.0
    )
