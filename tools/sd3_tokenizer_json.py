"""Writes `tokenizer.json` into a Stable Diffusion 3 pipeline folder's `tokenizer/` and `tokenizer_2/`.

SD3's diffusers folders ship each CLIP tokenizer as `vocab.json` + `merges.txt` (+
`tokenizer_config.json`); the Rust runner reads Hugging Face's `tokenizer.json`. transformers'
`CLIPTokenizerFast` builds it from those files exactly as the pipeline's tokenizer tokenizes.
Idempotent: a folder that already has `tokenizer.json` is left alone. Reads only JSON/text files.

Run: .venv/bin/python tools/sd3_tokenizer_json.py <pipeline folder>
"""
import pathlib
import sys

from transformers import CLIPTokenizerFast


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    pipeline = pathlib.Path(sys.argv[1])
    for name in ("tokenizer", "tokenizer_2"):
        folder = pipeline / name
        out = folder / "tokenizer.json"
        if out.is_file():
            continue
        if not (folder / "vocab.json").is_file() or not (folder / "merges.txt").is_file():
            print(f"{folder}: neither tokenizer.json nor vocab.json + merges.txt", file=sys.stderr)
            return 1
        CLIPTokenizerFast.from_pretrained(folder).backend_tokenizer.save(str(out))
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
