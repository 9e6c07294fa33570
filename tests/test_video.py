"""Video export: a [3, F, H, W] video written to a file reads back with its frame count, size and pixels."""
from __future__ import annotations

from importlib.util import find_spec

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from lina_core.video import export_video, is_video, still, video_frames

FRAMES, HEIGHT, WIDTH = 9, 24, 40


@pytest.fixture
def video() -> torch.Tensor:
    return torch.rand(3, FRAMES, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(0))


def read_back(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)])


def test_frames_are_uint8_images_in_order(video):
    frames = video_frames(video)
    assert len(frames) == FRAMES and frames[0].shape == (HEIGHT, WIDTH, 3) and frames[0].dtype == np.uint8
    np.testing.assert_array_equal(frames[4], (video[:, 4].permute(1, 2, 0).numpy() * 255).round())


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animated_files_read_back_with_every_frame(suffix, video, tmp_path):
    path = export_video(video, tmp_path / f"clip{suffix}", fps=8)
    back = read_back(path)
    assert back.shape == (FRAMES, HEIGHT, WIDTH, 3)
    if suffix == ".webp":  # lossless: the very pixels
        np.testing.assert_array_equal(back, np.stack(video_frames(video)))
    else:  # a 256-colour palette, and the frame time in hundredths of a second (1000/8 ms -> 120)
        assert np.abs(back.astype(int) - np.stack(video_frames(video))).mean() < 16
        with Image.open(path) as im:
            assert im.info["duration"] == 120


def test_mp4_goes_through_ffmpeg_or_says_what_to_install(video, tmp_path):
    if find_spec("imageio") and find_spec("imageio_ffmpeg"):
        import imageio.v3 as iio

        path = export_video(video, tmp_path / "clip.mp4")
        back = iio.imread(path)
        assert back.shape[0] == FRAMES and back.shape[-1] == 3
    else:
        with pytest.raises(RuntimeError, match="imageio-ffmpeg"):
            export_video(video, tmp_path / "clip.mp4")


def test_bad_inputs_name_the_field(video, tmp_path):
    with pytest.raises(ValueError, match="path: unknown video format '.avi'"):
        export_video(video, tmp_path / "clip.avi")
    with pytest.raises(ValueError, match=r"video: expected a \[3, F, H, W\]"):
        export_video(video[0], tmp_path / "clip.gif")


def test_the_still_of_a_video_is_its_last_frame_and_an_image_is_its_own(video):
    assert is_video(video) and torch.equal(still(video), video[:, -1])
    image = video[:, 0]
    assert not is_video(image) and still(image) is image
    with pytest.raises(ValueError, match=r"\[3, H, W\] or \[3, F, H, W\]"):
        still(video[None])
