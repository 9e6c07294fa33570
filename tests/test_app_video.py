"""The app on a video backend (a tiny random Wan pipeline): /generate returns a baseline | LINA pair of MP4
videos beside the stills, and the stills are the videos' last frames at the backend's own aspect ratio."""
from __future__ import annotations

from importlib.util import find_spec

import numpy as np
import pytest
import torch
from gradio_client import Client
from PIL import Image

from app_server import running_app
from demo.ui import example_row
from lina_core.backends.wan import WanBackend
from lina_core.engine import Engine

from wan_tiny import tiny_wan_pipeline

HEIGHT, WIDTH, FRAMES = 48, 80, 9
STEPS = 4

pytestmark = pytest.mark.skipif(not (find_spec("imageio") and find_spec("imageio_ffmpeg")),
                                reason="MP4 export needs imageio and imageio-ffmpeg (requirements.txt)")


@pytest.fixture(scope="module")
def app():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny transformer is fastest on one thread
    engine = Engine(WanBackend.from_pipeline(tiny_wan_pipeline(), size=(HEIGHT, WIDTH, FRAMES),
                                             max_sequence_length=32))
    row = example_row("a red ball on a small mirror")
    row[5], row[9] = STEPS, 2  # steps, end of the latent window
    try:
        with running_app(engine) as url:
            client = Client(url, verbose=False)
            yield client.predict(*row, api_name="/generate"), client
    finally:
        torch.set_num_threads(threads)


def frames_of(video) -> np.ndarray:
    import imageio.v3 as iio

    return iio.imread(video["video"] if isinstance(video, dict) else video)


@pytest.fixture(scope="module")
def outputs(app):
    return app[0]


def test_generate_returns_a_baseline_and_a_lina_video_of_every_frame(outputs):
    base, lina = frames_of(outputs[-2]), frames_of(outputs[-1])
    assert base.shape == lina.shape == (FRAMES, HEIGHT, WIDTH, 3)
    assert np.abs(base.astype(int) - lina).mean() > 0.5  # the interventions changed the LINA video


def test_the_stills_are_the_last_frames_with_the_videos_aspect(outputs):
    for still_path, video in zip(outputs[0], outputs[-2:]):
        still = Image.open(still_path).convert("RGB")
        assert still.width * HEIGHT == still.height * WIDTH  # upscaled by a whole factor, not squashed square
        small = np.asarray(still.resize((WIDTH, HEIGHT), Image.Resampling.NEAREST)).astype(int)
        last = frames_of(video)[-1].astype(int)
        assert np.abs(small - last).mean() < 12  # H.264 with 4:2:0 colour is lossy on noise-like frames


def test_a_cached_example_serves_its_videos(app):
    cached = app[1].predict(0, api_name="/showcase_example")  # computed on this first click, then read back
    assert frames_of(cached[-1]).shape == (FRAMES, HEIGHT, WIDTH, 3)
