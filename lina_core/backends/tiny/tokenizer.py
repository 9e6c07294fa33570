"""A word-level tokenizer for the tiny model, built with the ``tokenizers`` library.

The world's language is small (a few hundred words), so whole words are the right unit: every
token is a word the CSG parser also knows, which makes "the tokens of entity X" exact. Words never
seen in training map to [UNK] (the CSG parser reports them to the user).
"""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
MAX_TOKENS = 32


def build_tokenizer(words: Iterable[str], max_length: int = MAX_TOKENS) -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for w in sorted(set(words)):
        vocab.setdefault(w, len(vocab))
    core = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", vocab["[BOS]"]), ("[EOS]", vocab["[EOS]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, model_max_length=max_length, pad_token="[PAD]", unk_token="[UNK]",
        bos_token="[BOS]", eos_token="[EOS]",
    )


def words_of(prompts: Iterable[str]) -> set[str]:
    """The words a tokenizer needs for these prompts, split exactly as the tokenizer will split them."""
    split = pre_tokenizers.Whitespace()
    norm = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    return {w for p in prompts for w, _ in split.pre_tokenize_str(norm.normalize_str(p))}
