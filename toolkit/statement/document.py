"""A privacy statement as a document: read from plain text, Markdown or HTML, split into articles,
clauses and sentences, each sentence knowing the line it starts on.

Structure recognised (Dutch and English):

* article headings: ``Artikel 3 Beveiliging``, ``Article 3 - Security``, ``3. Security`` (short,
  no closing punctuation), Markdown ``#`` headings, HTML ``<h1>``..``<h6>``;
* sub-headings: a short bullet without closing punctuation (``- Persoonlijk**``) or a short line
  alone; they number the article's clauses (the seed's ``1.1`` .. ``1.8``);
* numbered paragraphs ``1. Smootdiensten maakt ...`` (clause ``3.1`` in article 3);
* every bullet and paragraph is split into sentences (abbreviations such as ``bijv.``, ``o.a.``,
  ``e.g.``, ``B.V.`` and ``Art.`` do not end a sentence).

Markdown and stray formatting (``**``, ``<http://...>``, ``[text](url)``) are cleaned from the
text; link targets are kept in the text so the domains named can be checked (TRN-004).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import UnusableInputError

MIN_WORDS = 30           # fewer words than this is not a privacy statement


@dataclass(frozen=True)
class Sentence:
    text: str
    line: int                 # 1-based line of the source file where the sentence starts
    article: str = ""         # "1" or the heading's own words when it has no number
    heading: str = ""         # the article heading ("Artikel 1 Uitleg persoonsgegevens ...")
    subheading: str = ""      # e.g. "Doel"
    clause: str = ""          # e.g. "1.2"
    index: int = 0            # position in the document

    @property
    def where(self) -> str:
        """Where a reader finds it: ``art. 1.2 (Doel), line 12``."""
        parts = []
        if self.clause:
            parts.append(f"art. {self.clause}")
        elif self.article:
            parts.append(f"art. {self.article}")
        if self.subheading:
            parts.append(f"({self.subheading})")
        parts.append(f"line {self.line}")
        return " ".join(parts[:-1]) + (", " if len(parts) > 1 else "") + parts[-1]


@dataclass
class Document:
    source: str
    format: str                           # text | markdown | html
    language: str                         # nl | en
    title: str
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.sentences)

    def section(self, s: Sentence) -> list[Sentence]:
        """The sentences of ``s``'s clause (or article when it has no clauses)."""
        key = (s.article, s.clause, s.subheading)
        return [x for x in self.sentences if (x.article, x.clause, x.subheading) == key]


# ---------------------------------------------------------------- reading

def read_text(path: str | Path) -> tuple[str, str]:
    """(text, format) of a statement file. UTF-8 (with or without BOM), UTF-16 with BOM, or
    Windows-1252; anything else, binary data or an empty file is unusable (exit 2)."""
    p = Path(path)
    if not p.is_file():
        raise UnusableInputError(f"{p}: statement file not found")
    raw = p.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    elif b"\x00" in raw:
        raise UnusableInputError(f"{p}: binary data, not a text, Markdown or HTML statement")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            try:
                text = raw.decode("cp1252")
            except UnicodeDecodeError:
                raise UnusableInputError(f"{p}: byte {e.start}: neither UTF-8 nor Windows-1252 "
                                         "text") from None
    suffix = p.suffix.lower()
    head = text.lstrip()[:200].lower()
    if suffix in (".html", ".htm", ".xhtml") or head.startswith(("<!doctype html", "<html")):
        fmt = "html"
    elif suffix in (".md", ".markdown"):
        fmt = "markdown"
    else:
        fmt = "text"
    return text, fmt


# ---------------------------------------------------------------- HTML to lines

BLOCKS = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "section", "article",
          "ul", "ol", "table", "header", "footer", "main", "dt", "dd", "blockquote", "address"}


def html_lines(text: str) -> list[tuple[int, str]]:
    """(line, text) per block of an HTML page: headings as Markdown ``#``, list items as ``- ``,
    link targets kept after the link text."""
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(text, "html.parser")
    for t in soup(["script", "style", "noscript", "template", "svg"]):
        t.decompose()
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    line = [1]

    def flush():
        s = " ".join("".join(buf).split())
        if s:
            out.append((line[0], s))
        buf.clear()

    def walk(node):
        for child in node.children:
            if isinstance(child, NavigableString):
                if child.__class__.__name__ in ("Comment", "Doctype", "Declaration",
                                                "ProcessingInstruction"):
                    continue
                buf.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if name == "head":
                title = child.find("title")
                if title and title.get_text(strip=True):
                    out.append((child.sourceline or 1, "# " + title.get_text(" ", strip=True)))
                continue
            if name in BLOCKS:
                flush()
                line[0] = child.sourceline or line[0]
                if name in ("h1", "h2", "h3", "h4", "h5", "h6"):
                    buf.append("#" * int(name[1]) + " ")
                elif name == "li":
                    buf.append("- ")
                walk(child)
                flush()
                continue
            if name == "a":
                href = (child.get("href") or "").strip()
                walk(child)
                if href.lower().startswith(("http://", "https://", "mailto:")):
                    target = href[7:] if href.lower().startswith("mailto:") else href
                    if target not in child.get_text():
                        buf.append(f" ({target})")
                continue
            walk(child)

    walk(soup)
    flush()
    return out


# ---------------------------------------------------------------- cleaning

_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_ANGLE_URL = re.compile(r"<((?:https?://|mailto:)[^>\s]+)>", re.I)


def clean_inline(s: str) -> str:
    """Markdown and stray formatting out of one line; link targets kept."""
    s = unicodedata.normalize("NFC", s)
    s = (s.replace("\u00a0", " ").replace("\u2019", "'").replace("\u2018", "'")
         .replace("\u201c", '"').replace("\u201d", '"').replace("\u201e", '"')
         .replace("\u2013", "-").replace("\u2014", "-").replace("\u00ad", ""))

    def link(m: re.Match) -> str:
        label, url = m.group(1).strip(), m.group(2)
        return f"{label} ({url})" if label and url not in label else (label or url)

    s = _MD_LINK.sub(link, s)
    s = _ANGLE_URL.sub(lambda m: m.group(1).removeprefix("mailto:"), s)
    s = re.sub(r"(\*\*|__|`)", "", s)
    s = re.sub(r"(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)", "", s)
    return " ".join(s.split())


# ---------------------------------------------------------------- structure

_ARTICLE = re.compile(r"^(?:artikel|article|art\.|section|sectie|hoofdstuk|chapter)\s+(\d+[a-z]?)"
                      r"\s*[.:\-]?\s*(.*)$", re.I)
_NUMBERED_HEADING = re.compile(r"^(\d+)\.?\s+(\S.{0,70})$")
_NUMBERED_PARA = re.compile(r"^(\d+(?:\.\d+)*)[.)]\s+(.*)$")
_BULLET = re.compile(r"^(?:[-*+\u2022\u25aa\u25cf\u2013]|[a-z]\)|\([a-z]\))\s+(.*)$")
_END_PUNCT = (".", ";", ":", ",", "?", "!")

ABBREVIATIONS = {
    "bijv", "bv", "b.v", "n.v", "o.a", "e.g", "i.e", "etc", "nr", "art", "jo", "ca", "incl",
    "excl", "resp", "t.a.v", "m.b.t", "z.s.m", "d.w.z", "m.u.v", "i.v.m", "vs", "mr", "mrs", "dr",
    "no", "p", "blz", "ter", "zgn", "evt", "a.u.b", "s.v.p", "t.o.v", "o.b.v", "v.w.b", "ing",
    "inc", "ltd", "co", "jr", "sr", "st", "lid", "par", "sub", "hfd",
}


def _is_heading_text(s: str, max_words: int = 8) -> bool:
    return bool(s) and not s.endswith(_END_PUNCT) and len(s.split()) <= max_words


def split_sentences(text: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs. A sentence ends at ``.``, ``!`` or ``?`` followed by white space,
    unless the word before is an abbreviation or a single letter, or the dot is inside a number,
    date or domain (those have no white space after the dot)."""
    out: list[tuple[int, str]] = []
    start = 0
    for m in re.finditer(r"[.!?]+[\"')\]]*(?=\s+|$)", text):
        end = m.end()
        word = re.search(r"(\S+)$", text[start:m.start()])
        w = (word.group(1) if word else "").lower().lstrip("(\"'")
        if m.group(0).startswith(".") and (w in ABBREVIATIONS or w.rstrip(".") in ABBREVIATIONS
                                           or re.fullmatch(r"[a-z]", w)
                                           or re.fullmatch(r"(?:[a-z]\.)+[a-z]", w)):
            continue
        piece = text[start:end].strip()
        if piece:
            out.append((start + (len(text[start:end]) - len(text[start:end].lstrip())), piece))
        start = end
    tail = text[start:].strip()
    if tail:
        out.append((start + (len(text[start:]) - len(text[start:].lstrip())), tail))
    return out


NL_WORDS = {"de", "het", "een", "en", "van", "uw", "wij", "we", "u", "niet", "voor", "op", "met",
            "gegevens", "persoonsgegevens", "worden", "wordt", "kunt", "zijn", "als", "deze", "aan"}
EN_WORDS = {"the", "and", "of", "your", "we", "you", "to", "for", "not", "with", "data", "our",
            "personal", "is", "are", "this", "be", "by", "on", "may", "can"}


def detect_language(text: str) -> str:
    words = re.findall(r"[a-zà-ÿ]+", text.lower())
    nl = sum(w in NL_WORDS for w in words)
    en = sum(w in EN_WORDS for w in words)
    return "en" if en > nl else "nl"


def parse(text: str, fmt: str = "text", source: str = "statement") -> Document:
    """The document of a statement's text (``fmt``: text, markdown or html)."""
    if fmt == "html":
        lines = html_lines(text)
    else:
        lines = list(enumerate(text.splitlines(), 1))
    lines = [(n, clean_inline(s)) for n, s in lines]

    sentences: list[Sentence] = []
    title = ""
    article, heading, sub, clause = "", "", "", ""
    sub_count = 0
    para: list[tuple[int, str]] = []          # (line, text) of the open paragraph

    def emit_para():
        if not para:
            return
        joined, starts = "", []
        for n, s in para:
            starts.append((len(joined), n))
            joined += s + " "
        for off, sent in split_sentences(joined):
            ln = max(n for o, n in starts if o <= off)
            sentences.append(Sentence(sent, ln, article, heading, sub, clause, len(sentences)))
        para.clear()

    def heading_line(n: int, s: str, level_text: str) -> None:
        nonlocal article, heading, sub, clause, sub_count, title
        emit_para()
        m = _ARTICLE.match(level_text) or _NUMBERED_HEADING.match(level_text)
        if m and (_ARTICLE.match(level_text) or _is_heading_text(level_text)):
            article, heading = m.group(1), level_text
        elif not title and not sentences:
            title = level_text
            return
        else:
            article, heading = "", level_text
        sub, clause, sub_count = "", "", 0

    for n, s in lines:
        if not s:
            emit_para()
            continue
        md = re.match(r"^(#{1,6})\s*(.*)$", s)
        if md:
            heading_line(n, s, md.group(2).strip())
            continue
        if _ARTICLE.match(s) and _is_heading_text(s, 14):
            heading_line(n, s, s)
            continue
        nh = _NUMBERED_HEADING.match(s)
        if nh and _is_heading_text(s, 8) and not para:
            heading_line(n, s, s)
            continue
        b = _BULLET.match(s)
        if b:
            body = b.group(1).strip()
            if _is_heading_text(body, 6) and body[:1].isupper():
                emit_para()
                sub_count += 1
                sub = body.rstrip(":")
                clause = f"{article}.{sub_count}" if article else ""
                continue
            emit_para()
            para.append((n, body))
            emit_para()
            continue
        np_ = _NUMBERED_PARA.match(s)
        if np_ and article and len(np_.group(2).split()) > 3:
            emit_para()
            num = np_.group(1)
            clause = num if "." in num else f"{article}.{num}"
            sub = ""
            para.append((n, np_.group(2)))
            continue
        if not title and not sentences and not para and _is_heading_text(s, 12):
            title = s
            continue
        if _is_heading_text(s, 6) and not para and s[:1].isupper() and not re.search(r"\d{4}", s):
            # a short line alone: a sub-heading of the current article
            emit_para()
            if article:
                sub_count += 1
                sub, clause = s, f"{article}.{sub_count}"
            else:
                heading = s
            continue
        para.append((n, s))
    emit_para()
    lang = detect_language(" ".join(s.text for s in sentences))
    return Document(source, fmt, lang, title, sentences)


def read_statement(path: str | Path) -> Document:
    """Read and split a statement file; refuse what cannot be a statement (exit 2)."""
    text, fmt = read_text(path)
    doc = parse(text, fmt, str(path))
    words = sum(len(s.text.split()) for s in doc.sentences)
    if words < MIN_WORDS:
        raise UnusableInputError(f"{path}: {words} words of text: too short to be a privacy "
                                 f"statement (at least {MIN_WORDS})")
    return doc
