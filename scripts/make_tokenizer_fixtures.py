"""Fixtures for qplay's tokenizers of user-supplied language models (src/lm/tokenizers.rs,
tokenizer_bpe.rs, tokenizer_spm.rs), made by the independent references: the PyPI packages
`tokenizers` (Hugging Face's own implementation, version 0.23.3) and `sentencepiece`
(Google's, version 0.2.3).

Run it through scripts/make_tokenizer_fixtures.sh (a venv under target/tokenizer-venv with
tokenizers==0.23.3 and sentencepiece==0.2.3 from PyPI). The output is checked in under
tests/fixtures/lm/tokenizers/ and read by tests/suite/lm_tokenizers.rs. Training is single-threaded
on a fixed slice of www/data/shakespeare.train.txt.gz, so running the script again leaves the
files unchanged (the .sh checks this for the trained files with a second run in a scratch dir
when called with --check).

Files:

  bpe.tokenizer.json    a byte-level BPE (GPT-2 style: ByteLevel pre-tokenizer with the GPT-2
                        regex, ByteLevel decoder) trained by `tokenizers` (vocab 500: 256 bytes,
                        the special token <|endoftext|>, merges), plus the added (non-special)
                        tokens "<sep>" (lstrip) and "[X]" (single_word, rstrip). Written by
                        `Tokenizer.to_str()` itself.
  bpe_cases.json        {"strings": [...], "variants": [{"name", "patch", "ids", "decoded", "words"}],
                        "bos_template": id}: for each variant of bpe.tokenizer.json (the patch
                        replaces top-level keys, and "model.ignore_merges" / "model.merges_as_strings"
                        when present), `tokenizers`' own encode(s, add_special_tokens=False).ids of
                        every string, decode(ids, skip_special_tokens=False), and the words of its
                        pre-tokenizer alone (pre_tokenize_str, byte-level spelling: the regex scanners
                        checked without the merges in the way). The patches come from
                        `to_str()` of tokenizers built with the Python API: Llama-3's Split regex +
                        ByteLevel(use_regex=False) with ignore_merges and a TemplateProcessing
                        post-processor, Qwen2's regex (single digits) without and with its NFC normalizer,
                        ByteLevel(add_prefix_space=True), and the legacy "a b" merges form.
  bpe_gguf_vocab.json   the same vocabulary as llama.cpp's convert_hf_to_gguf.py writes it for a
                        "gpt2" tokenizer: tokens by id, token_type (1 normal, 3 control for special
                        added tokens, 4 user-defined for the other added tokens), merges "a b".
  spm.tokenizer.bin     a SentencePiece BPE model (model_type=bpe, byte_fallback, vocab 512, identity
                        normalization, no whitespace folding, dummy prefix, split digits,
                        whitespace-only pieces, user-defined symbol "<sep>") trained by `sentencepiece`
                        and exported exactly as llama2.c's tokenizer.py export() does: u32
                        max_token_length, then per id f32 score, u32 length, the UTF-8 bytes of the
                        piece with U+2581 replaced by ' ', BOS written as "\\n<s>\\n" and EOS as
                        "\\n</s>\\n" (little-endian: tokenizer.py packs native "I"/"fI" on x86).
  spm_vocab.json        the same model as llama.cpp's GGUF "llama" vocabulary holds it: pieces (with
                        U+2581), scores, token types (sentencepiece's: 1 normal, 2 unknown, 3 control,
                        4 user-defined, 5 unused, 6 byte, the numbering GGUF uses), bos/eos/unk ids.
  spm_cases.json        {"strings", "ids", "decoded", "decode_cases": [{"ids", "text"}]}:
                        sentencepiece's own encode(s) and decode(ids), plus decode of id lists
                        with BOS/EOS/unknown and byte tokens.

  spm_legacy.tokenizer.json, spm_metaspace.tokenizer.json
                        the same SentencePiece model as a Hugging Face tokenizer.json, written by
                        `tokenizers` the two ways transformers' LlamaConverter lays it out: "legacy"
                        (Llama 2's: normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer) and
                        the newer one (a Metaspace pre-tokenizer, prepend_scheme "first"); BPE with
                        byte_fallback and fuse_unk, merges derived from the pieces' scores as
                        transformers' SentencePieceExtractor does, the decoder Replace + ByteFallback
                        + Fuse + Strip, "<s> $A", special <unk> / <s> / </s> and the normalized
                        added token "<sep>".
  spm_json_cases.json   {"strings", "variants": [{"name", "ids", "decoded", "bos"}]}: `tokenizers`' own
                        encode(s, add_special_tokens=False).ids and decode(ids, skip_special_tokens=
                        False) of both files.

Where llama2.c's run.c would legitimately differ from sentencepiece: run.c knows no token types,
so it cannot match the user-defined symbol "<sep>" as one piece (sentencepiece and llama.cpp do);
the test skips strings containing "<sep>" for the tokenizer.bin path and says so.

    bash scripts/make_tokenizer_fixtures.sh

`python3 scripts/make_tokenizer_fixtures.py --unicode-tables` (any Python 3.11, no packages) prints
the \\p{L} and \\p{N} tables at the end of src/lm/tokenizer_bpe.rs.
"""

import gzip
import io
import json
import struct
import sys
from pathlib import Path

import sentencepiece as spm
import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "www/data/shakespeare.train.txt.gz"
# The training slice: the first 300 000 characters of the training text.
SLICE_CHARS = 300_000

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

STRINGS = [
    "",
    "x",
    " ",
    "\n",
    "Hello, world!",
    "To be, or not to be: that is the question.",
    "KING HENRY IV:\nWhat say'st thou, my lord?\n",
    "  leading and   multiple   spaces  ",
    "    four leading spaces",
    "trailing space ",
    "line one\nline two\n\n\nline five\r\nend",
    "tabs\tand\t\tmore\t",
    "ab  \n  cd \n\n ef",
    'punctuation!!! ??? ... ---- (parens) [brackets] {braces} "quotes"',
    "(hello) 'quoted' don't!!\n\n",
    "digits 0 12 345 6789 1234567890 3.14159",
    "$100,000.00 + 20% = ?",
    "naïve café 日本語 🙂",
    "I'm you're we've they'll she'd it's DON'T I'M 'Sx 'ſx 'sam",
    "DON'Tcha WE'LLx it'sy'ſz x'RE'VE'D",
    "नमस्ते दुनिया",
    "Ⓐⓑ ½ ² Ⅻ ٣",
    "non\u00a0breaking\u3000ideographic\u2003em",
    "emoji 👩\u200d💻 zwj and flags 🇫🇷",
    "control \u0007 bell \u0000 nul",
    "<|endoftext|>",
    "before<|endoftext|>after <|endoftext|> spaced",
    "<sep> user   <sep>defined",
    "a[X]b [X]  c [X]\t[X]",
    "Supercalifragilisticexpialidocious" * 8,
    "a" * 300,
    "decomposed: cafe\u0301 A\u030a \u212b \u1100\u1161\u11a8 q\u0307\u0323 e\u0301\u0301",
]


def corpus_slice():
    with gzip.open(CORPUS, "rt", encoding="utf-8") as f:
        return f.read(SLICE_CHARS)


# ---------------------------------------------------------------- byte-level BPE (`tokenizers`)


def train_bpe(text):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        min_frequency=2,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = text.split("\n")
    chunks = ["\n".join(lines[i : i + 20]) + "\n" for i in range(0, len(lines), 20)]
    tok.train_from_iterator(chunks, trainer)
    tok.add_tokens([AddedToken("<sep>", lstrip=True), AddedToken("[X]", single_word=True, rstrip=True)])
    return tok


def bpe_variants(base):
    """(name, patch) pairs; each patch is taken from tokenizers' own serialization."""
    j0 = json.loads(base.to_str())
    variants = [("gpt2", {})]

    t = Tokenizer.from_str(base.to_str())
    t.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    t.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", pair="<|endoftext|> $A <|endoftext|> $B", special_tokens=[("<|endoftext|>", 0)]
    )
    j = json.loads(t.to_str())
    variants.append(
        ("llama3", {"pre_tokenizer": j["pre_tokenizer"], "post_processor": j["post_processor"], "model.ignore_merges": True})
    )

    t = Tokenizer.from_str(base.to_str())
    t.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    variants.append(("qwen2", {"pre_tokenizer": json.loads(t.to_str())["pre_tokenizer"]}))
    t.normalizer = normalizers.NFC()
    j = json.loads(t.to_str())
    variants.append(("qwen2_nfc", {"pre_tokenizer": j["pre_tokenizer"], "normalizer": j["normalizer"]}))

    t = Tokenizer.from_str(base.to_str())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    variants.append(("gpt2_prefix_space", {"pre_tokenizer": json.loads(t.to_str())["pre_tokenizer"]}))

    variants.append(("legacy_merges", {"model.merges_as_strings": True}))
    assert isinstance(j0["model"]["merges"][0], list), "tokenizers now writes merges as pairs"
    return variants


def apply_patch(j, patch):
    """The same edit tests/suite/lm_tokenizers.rs applies to the base tokenizer.json."""
    j = json.loads(json.dumps(j))
    for key, value in patch.items():
        if key == "model.ignore_merges":
            j["model"]["ignore_merges"] = value
        elif key == "model.merges_as_strings":
            j["model"]["merges"] = [f"{a} {b}" for a, b in j["model"]["merges"]]
        else:
            j[key] = value
    return j


def bpe_fixtures(text, out):
    base = train_bpe(text)
    base_json = base.to_str(pretty=False)
    (out / "bpe.tokenizer.json").write_text(base_json + "\n", encoding="utf-8")
    j0 = json.loads(base_json)
    cases = {"tokenizers_version": tokenizers.__version__, "strings": STRINGS, "variants": []}
    for name, patch in bpe_variants(base):
        tok = Tokenizer.from_str(json.dumps(apply_patch(j0, patch)))
        ids = [tok.encode(s, add_special_tokens=False).ids for s in STRINGS]
        decoded = [tok.decode(i, skip_special_tokens=False) for i in ids]
        with_special = tok.encode("a", add_special_tokens=True).ids
        words = [[w for w, _ in tok.pre_tokenizer.pre_tokenize_str(s)] for s in STRINGS]
        cases["variants"].append(
            {
                "name": name,
                "patch": patch,
                "ids": ids,
                "decoded": decoded,
                "words": words,
                "encode_a_with_special_tokens": with_special,
            }
        )
    (out / "bpe_cases.json").write_text(json.dumps(cases, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")

    # The GGUF form, as convert_hf_to_gguf.py's _set_vocab_gpt2 builds it.
    vocab = base.get_vocab(with_added_tokens=True)
    n = max(vocab.values()) + 1
    by_id = {i: t for t, i in vocab.items()}
    added = base.get_added_tokens_decoder()
    tokens, types = [], []
    for i in range(n):
        tokens.append(by_id[i])
        if i in added:
            types.append(3 if added[i].special else 4)
        else:
            types.append(1)
    merges = [f"{a} {b}" for a, b in j0["model"]["merges"]]
    eot = vocab["<|endoftext|>"]
    gguf = {"model": "gpt2", "tokens": tokens, "token_type": types, "merges": merges, "bos": eot, "eos": eot}
    (out / "bpe_gguf_vocab.json").write_text(json.dumps(gguf, ensure_ascii=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------- SentencePiece BPE (`sentencepiece`)


def train_spm(text):
    lines = [l for l in text.split("\n") if l.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type="bpe",
        vocab_size=512,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        user_defined_symbols=["<sep>"],
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def llama2c_export(sp):
    """llama2.c tokenizer.py Tokenizer.export(), writing to bytes instead of a file."""
    tokens, scores = [], []
    for i in range(sp.vocab_size()):
        t = sp.id_to_piece(i)
        s = sp.get_score(i)
        if i == sp.bos_id():
            t = "\n<s>\n"
        elif i == sp.eos_id():
            t = "\n</s>\n"
        t = t.replace("▁", " ")
        tokens.append(t.encode("utf-8"))
        scores.append(s)
    max_token_length = max(len(t) for t in tokens)
    buf = io.BytesIO()
    buf.write(struct.pack("<I", max_token_length))
    for b, score in zip(tokens, scores):
        buf.write(struct.pack("<fI", score, len(b)))
        buf.write(b)
    return buf.getvalue()


def spm_type(sp, i):
    if sp.is_unknown(i):
        return 2
    if sp.is_control(i):
        return 3
    if sp.is_byte(i):
        return 6
    if sp.is_unused(i):
        return 5
    piece = sp.id_to_piece(i)
    return 4 if piece == "<sep>" else 1


def spm_fixtures(text, out):
    sp = train_spm(text)
    (out / "spm.tokenizer.bin").write_bytes(llama2c_export(sp))
    n = sp.vocab_size()
    vocab = {
        "model": "llama",
        "tokens": [sp.id_to_piece(i) for i in range(n)],
        "scores": [sp.get_score(i) for i in range(n)],
        "token_type": [spm_type(sp, i) for i in range(n)],
        "bos": sp.bos_id(),
        "eos": sp.eos_id(),
        "unk": sp.unk_id(),
    }
    (out / "spm_vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")

    ids = [sp.encode(s) for s in STRINGS]
    decoded = [sp.decode(i) for i in ids]
    byte = lambda b: sp.piece_to_id(f"<0x{b:02X}>")
    hello = sp.encode("Hello there")
    decode_cases = [
        [sp.bos_id()] + hello,
        [sp.bos_id()] + hello + [sp.eos_id()],
        hello + hello,
        [sp.unk_id()],
        [byte(0xE6), byte(0x97), byte(0xA5)],  # 日 as three byte tokens
        [byte(0x41), byte(0x0A), byte(0x42)],
        sp.encode(" leading space kept"),
    ]
    cases = {
        "sentencepiece_version": spm.__version__,
        "strings": STRINGS,
        "ids": ids,
        "decoded": decoded,
        "decode_cases": [{"ids": c, "text": sp.decode(c)} for c in decode_cases],
    }
    (out / "spm_cases.json").write_text(json.dumps(cases, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


# ------------------------- SentencePiece BPE as a Hugging Face tokenizer.json (`tokenizers`)

# Strings with the special pieces inside, on top of STRINGS.
SPM_JSON_STRINGS = STRINGS + ["<s>Hello</s>", "a<s> b </s>c", " <s>", "<unk><sep>x", "▁already▁marked ▁"]


def spm_merges(sp):
    """BPE merges from a SentencePiece model, as transformers' SentencePieceExtractor derives them
    for the Llama tokenizer.json: every split of a piece into two pieces, ordered by the piece's
    score (best first), then by the ids of the two halves."""
    vocab = {sp.id_to_piece(i): i for i in range(sp.vocab_size())}
    merges = []
    for piece, i in vocab.items():
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i):
            continue
        splits = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        splits.sort(key=lambda ab: (vocab[ab[0]], vocab[ab[1]]))
        merges.extend((sp.get_score(i), a, b) for a, b in splits)
    merges.sort(key=lambda m: -m[0])  # stable: equal scores keep the id order
    return vocab, [(a, b) for _, a, b in merges]


def spm_json_tokenizers(sp):
    """The two layouts transformers' LlamaConverter writes: "legacy" (normalizer Prepend("▁") +
    Replace(" ", "▁"), no pre-tokenizer; Llama 2's own tokenizer.json) and the newer one (no
    normalizer, a Metaspace pre-tokenizer with prepend_scheme "first"); both with byte fallback,
    the unknown token fused, the decoder Replace("▁", " ") + ByteFallback + Fuse + Strip(1 left),
    "<s> $A" as the post-processor, <unk> / <s> / </s> special added tokens and "<sep>" a normal one."""
    vocab, merges = spm_merges(sp)
    out = {}
    for name in ("legacy", "metaspace"):
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
        if name == "legacy":
            tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        else:
            tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
        tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ("<unk>", "<s>", "</s>")])
        tok.add_tokens([AddedToken("<sep>", normalized=True)])
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", sp.bos_id())])
        out[name] = tok
    return out


def spm_json_fixtures(out):
    sp = train_spm(corpus_slice())
    cases = {"tokenizers_version": tokenizers.__version__, "strings": SPM_JSON_STRINGS, "variants": []}
    for name, tok in spm_json_tokenizers(sp).items():
        (out / f"spm_{name}.tokenizer.json").write_text(tok.to_str() + "\n", encoding="utf-8")
        ids = [tok.encode(s, add_special_tokens=False).ids for s in SPM_JSON_STRINGS]
        decoded = [tok.decode(i, skip_special_tokens=False) for i in ids]
        cases["variants"].append({"name": name, "ids": ids, "decoded": decoded, "bos": sp.bos_id()})
    (out / "spm_json_cases.json").write_text(json.dumps(cases, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


def unicode_tables():
    """Prints the \\p{L} / \\p{N} range tables of src/lm/tokenizer_bpe.rs (general categories L* and N*
    from Python's unicodedata, the Unicode version of the Oniguruma that `tokenizers` links)."""
    import unicodedata

    def ranges(prefix):
        out, start = [], None
        for cp in range(0x110000):
            inside = unicodedata.category(chr(cp)).startswith(prefix)
            if inside and start is None:
                start = cp
            if not inside and start is not None:
                out.append((start, cp - 1))
                start = None
        return out

    print(f"// Unicode {unicodedata.unidata_version}, generated by scripts/make_tokenizer_fixtures.py --unicode-tables")
    for name, prefix in (("LETTER_RANGES", "L"), ("NUMBER_RANGES", "N")):
        rs = ranges(prefix)
        print("#[rustfmt::skip]")
        print(f"const {name}: [(u32, u32); {len(rs)}] = [")
        for i in range(0, len(rs), 6):
            print("    " + " ".join(f"(0x{a:X}, 0x{b:X})," for a, b in rs[i : i + 6]))
        print("];")


def main():
    if sys.argv[1:] == ["--unicode-tables"]:
        unicode_tables()
        return
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/fixtures/lm/tokenizers"
    out.mkdir(parents=True, exist_ok=True)
    text = corpus_slice()
    bpe_fixtures(text, out)
    spm_fixtures(text, out)
    spm_json_fixtures(out)
    for p in sorted(out.iterdir()):
        print(f"{p.stat().st_size:8d}  {p}")


if __name__ == "__main__":
    main()
