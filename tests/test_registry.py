"""Choosing and loading a backend: names, environment, local folders, and one clear line when the weights
cannot be had (never a traceback)."""
from __future__ import annotations

import pytest
import torch

from lina_core.backends.errors import MissingWeightsError
from lina_core.backends.registry import BACKENDS, LoadOptions, backend_name, load_backend
from lina_core.backends.sd3 import SD3Backend
from lina_core.backends.sdxl import SDXLBackend
from lina_core.backends.unet import UNetBackend
from lina_core.cli import EXIT_USER_ERROR, main
from lina_core.sampling import sample

from sd_tiny import CLIP_LENGTH, tiny_sd3_pipeline, tiny_sd_pipeline, tiny_sdxl_pipeline

PROMPT = "a red ball on a small mirror"
MISSING = "nobody/no-such-model"


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("LINA_BACKEND", "LINA_MODEL_ID", "LINA_DTYPE", "LINA_DEVICE", "LINA_CPU_OFFLOAD",
                "LINA_ATTENTION_SLICING", "LINA_SD3_T5"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub is unreachable here; offline it fails at once
    return monkeypatch


def test_names_come_from_the_flag_or_the_environment(clean_env):
    assert backend_name() == "tiny" and {"sd15", "sdxl", "sd3"} <= set(BACKENDS)
    clean_env.setenv("LINA_BACKEND", "sdxl")
    assert backend_name() == "sdxl" and backend_name("sd3") == "sd3"
    with pytest.raises(ValueError, match="unknown backend 'sd4'.*sd3"):
        backend_name("sd4")


@pytest.mark.parametrize("name, make, wrapper", [
    ("sd15", tiny_sd_pipeline, UNetBackend), ("sdxl", tiny_sdxl_pipeline, SDXLBackend),
    ("sd3", tiny_sd3_pipeline, SD3Backend),
])
def test_a_local_folder_loads_the_same_model(name, make, wrapper, clean_env, tmp_path):
    pipe = make()
    pipe.save_pretrained(tmp_path)
    clean_env.setenv("LINA_MODEL_ID", str(tmp_path))
    backend = load_backend(name)
    assert isinstance(backend, wrapper) and backend.name == name
    assert backend.device == torch.device("cpu") and backend.dtype == torch.float32  # auto dtype on the CPU
    original = wrapper.from_pipeline(pipe)  # the same weights, never saved and loaded
    torch.testing.assert_close(sample(backend, [PROMPT], [3], steps=2).images,
                               sample(original, [PROMPT], [3], steps=2).images, rtol=1e-5, atol=1e-5)


def test_sd15s_default_pndm_scheduler_is_swapped_for_euler_on_its_config(clean_env, tmp_path):
    from diffusers import EulerDiscreteScheduler, PNDMScheduler

    pipe = tiny_sd_pipeline()
    pipe.scheduler = PNDMScheduler.from_config(pipe.scheduler.config)
    pipe.save_pretrained(tmp_path)
    backend = load_backend("sd15", path=tmp_path)
    assert isinstance(backend.scheduler, EulerDiscreteScheduler)
    assert backend.scheduler.config.num_train_timesteps == pipe.scheduler.config.num_train_timesteps


def test_sd3_without_t5_when_asked(clean_env, tmp_path):
    tiny_sd3_pipeline().save_pretrained(tmp_path)
    clean_env.setenv("LINA_SD3_T5", "0")
    backend = load_backend("sd3", path=tmp_path)
    assert backend.t5 is None and not backend.encode_prompt([PROMPT]).embeds[0, CLIP_LENGTH:].any()


def test_an_unreachable_model_id_names_the_id_and_the_local_way(clean_env):
    clean_env.setenv("LINA_MODEL_ID", MISSING)
    with pytest.raises(MissingWeightsError) as err:
        load_backend("sd3")
    message = str(err.value)
    assert MISSING in message and "LINA_MODEL_ID=DIR" in message and f"hf download {MISSING}" in message
    assert "\n" not in message


def test_a_missing_or_empty_local_folder_is_named(clean_env, tmp_path):
    with pytest.raises(MissingWeightsError, match="model folder .*nowhere.* does not exist; set LINA_MODEL_ID"):
        load_backend("sdxl", path=tmp_path / "nowhere")
    with pytest.raises(MissingWeightsError, match="model_index.json.*set LINA_MODEL_ID to a diffusers model folder"):
        load_backend("sdxl", path=tmp_path)


def test_bad_options_name_their_variable(clean_env, tmp_path):
    with pytest.raises(ValueError, match="LINA_DTYPE"):
        load_backend("sdxl", options=LoadOptions(model_id=str(tmp_path), dtype="float8"))
    with pytest.raises(ValueError, match="LINA_CPU_OFFLOAD"):
        load_backend("sdxl", options=LoadOptions(model_id=str(tmp_path), device="cpu", cpu_offload=True))


def test_the_cli_reports_an_unreachable_model_in_one_line(clean_env, capsys):
    clean_env.setenv("LINA_MODEL_ID", MISSING)
    assert main(["bench", "--backend", "sd3", "--steps", "2", "--repeats", "1", "--prompts", "1"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: ") and MISSING in err and "Traceback" not in err and err.count("\n") == 1
