"""Builds the CLIP tokenizer (`tokenizer.json`) offline, from the BPE merges a registry package ships.

OpenAI's CLIP BPE (`bpe_simple_vocab_16e6.txt.gz`, 48,894 merges) is inside the PyPI wheel of
open-clip-torch. This script downloads that wheel with `pip download --no-deps` (checked against a
pinned sha256), rebuilds the vocabulary exactly as OpenAI's `SimpleTokenizer` does (256 byte symbols,
the same with `</w>`, one token per merge, then `<|startoftext|>` = 49406 and `<|endoftext|>` = 49407:
the ids of Hugging Face's `openai/clip-vit-*` tokenizers) and saves transformers' `CLIPTokenizer` built
from that vocabulary and those merges into `.cache/models/clip-tokenizer/` (`tokenizer.json`,
`tokenizer_config.json`). Idempotent: returns at once when the output exists.

Run: .venv/bin/python tools/make_clip_tokenizer.py
"""
import gzip
import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOWNLOADS = ROOT / ".cache/assets/downloads"
OUT = ROOT / ".cache/models/clip-tokenizer"
WHEEL_SPEC = "open-clip-torch==3.3.0"
WHEEL_NAME = "open_clip_torch-3.3.0-py3-none-any.whl"
WHEEL_SHA256 = "c549ad5ed6bfc119cc11105033c0a2b9d7a2a4afeb40a58a09aab3da1a0043ce"
MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
MERGES = 49152 - 256 - 2  # OpenAI's SimpleTokenizer keeps lines 1..48894 of the file


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable unicode characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars)))


def wheel() -> pathlib.Path:
    """The open-clip-torch wheel, downloaded once and checked against the pinned sha256."""
    path = DOWNLOADS / WHEEL_NAME
    if not path.exists():
        DOWNLOADS.mkdir(parents=True, exist_ok=True)
        pip = ROOT / ".venv/bin/pip"
        subprocess.run([str(pip), "download", "-q", "--disable-pip-version-check", "--no-deps", "-d", str(DOWNLOADS), WHEEL_SPEC], check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"make_clip_tokenizer: error: {path} has sha256 {digest}, expected {WHEEL_SHA256} (delete it and rerun)")
    return path


def vocab_and_merges(bpe_gz: bytes) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """OpenAI's vocabulary (token -> id) and merge list from the gzipped BPE file."""
    lines = gzip.decompress(bpe_gz).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : MERGES + 1]]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != 49408 or vocab["<|endoftext|>"] != 49407:
        sys.exit(f"make_clip_tokenizer: error: rebuilt vocabulary has {len(vocab)} entries, expected 49408")
    return vocab, merges


def main() -> None:
    if (OUT / "tokenizer.json").exists():
        return
    from transformers import CLIPTokenizer

    with zipfile.ZipFile(wheel()) as z:
        vocab, merges = vocab_and_merges(z.read(MEMBER))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=OUT.parent, prefix=".clip-tokenizer."))
    tokenizer.save_pretrained(tmp)
    tmp.rename(OUT)  # atomic: an interrupted run never leaves a partial folder
    print(f"make_clip_tokenizer: wrote {OUT}/tokenizer.json ({len(vocab)} tokens, {len(merges)} merges)")


if __name__ == "__main__":
    main()
