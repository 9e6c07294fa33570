"""A tiny, randomly initialised Wan text-to-video pipeline built in code (the way diffusers' own Wan tests
do), with a locally written sentencepiece-style (Unigram) UMT5 tokenizer: nothing is downloaded."""
from __future__ import annotations

import string

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler, WanPipeline
from diffusers import WanTransformer3DModel
from transformers import T5Tokenizer, UMT5Config, UMT5EncoderModel

# Whole-word pieces; every other word (colours among them) falls apart into "▁x" + single letters, so the
# tests see both a word that is one token and a word that is several sentencepiece pieces.
WORDS = ("a", "an", "on", "in", "it", "of", "the", "with", "is", "by", "and", "ball", "cube", "cup", "bottle",
         "jar", "mirror", "table", "floor", "large", "small", "light", "from", "left", "right", "under", "there",
         "more", "less", "than", "empty", "space", "eats", "eaten", "bird", "snake", "lit")


def umt5_tokenizer() -> T5Tokenizer:
    letters = string.ascii_lowercase + string.digits + string.punctuation
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -8.0)]
    vocab += [(f"▁{w}", -1.0) for w in WORDS]
    vocab += [(f"▁{c}", -4.0) for c in letters] + [(c, -5.0) for c in letters]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def tiny_wan_pipeline(seed: int = 0, scheduler: str = "unipc", two_stage: bool = False) -> WanPipeline:
    """``scheduler``: "unipc" (what the Wan checkpoints ship, flow sigmas with a shift) or "euler"
    (FlowMatchEulerDiscreteScheduler, the class the pipeline is annotated with). ``two_stage`` adds a
    low-noise ``transformer_2`` with a boundary, as Wan2.2-A14B has."""
    torch.manual_seed(seed)
    tokenizer = umt5_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
    ))
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])

    def transformer() -> WanTransformer3DModel:
        return WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
            text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
        )

    if scheduler == "unipc":
        sched = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    else:
        sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=sched,
                       transformer=transformer(), transformer_2=transformer() if two_stage else None,
                       boundary_ratio=0.875 if two_stage else None)
    pipe.set_progress_bar_config(disable=True)
    return pipe
