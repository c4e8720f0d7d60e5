"""Records of a text file, found byte by byte: the loader's independent count.

DuckDB's CSV reader is fast but, left alone, loses records on hostile files: an unterminated quote
swallows the rest of the file into one rejected record, mixed CRLF/LF line ends stop it, a record
over its line limit vanishes. The framers here read every byte once (vectorised with numpy, in
the pass that also checksums the file) and find where each record starts and ends by the rules
DuckDB's reader follows, so that

- ``records`` is an independent count: the loader checks that DuckDB read exactly as many
  (loaded plus rejected), and refuses the file with one line otherwise;
- what DuckDB cannot read is cut out before it reads the file (:func:`sanitize` writes a copy):
  records over the size limit, the unclosed tail of a quote that never closes, records with a
  bare carriage return; each cut piece becomes a rejected row with its reason, its length and
  sha256, and its text (cut at ``RAW_KEEP`` bytes);
- line ends are made uniform in that copy when a file mixes CRLF and LF (or uses CR alone);
- a rejected record that spans several lines can be split into its lines (``multi``).

The CSV rules (as DuckDB 1.5.5 reads them, README "CSV dialect"): records end at LF (a CR before
it belongs to the line end) outside quotes; a field is quoted when its first character other than
spaces is ``"``; inside, ``""`` is a quote and the next single ``"`` closes it; a ``"`` inside an
unquoted field is a plain character; an empty line between records is skipped (in a one-column
file it is a record with no value); a BOM at the very start is not data.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BOM = b"\xef\xbb\xbf"
MAX_RECORD_BYTES = 8 << 20      # a longer record (CSV) or line (JSON Lines) is rejected
RAW_KEEP = 64 << 10             # the text kept of a rejected record that is longer
CHUNK = 1 << 22
LF, CR, QUOTE, SPACE = 10, 13, 34, 32
_EMPTY = np.empty(0, dtype=np.int64)


@dataclass
class Cut:
    """Bytes ``[start, end)`` of the file left out of the copy DuckDB reads."""

    start: int
    end: int
    kind: str           # oversize | unclosed | bare_cr | blank (a blank line before the header)
    line: int           # physical line (1-based) where it starts
    lines: int = 1      # physical lines it spans


@dataclass
class Framing:
    """What the byte pass found in one text file."""

    size: int = 0
    records: int = 0                 # data records by DuckDB's rules (header excluded)
    header: bytes | None = None      # the header record (CSV), without its line end
    header_line: int = 1
    blank: np.ndarray = field(default_factory=lambda: _EMPTY)   # logical lines skipped as blank
    # records spanning several lines: logical line, first byte, end (its LF), first line, lines
    multi: np.ndarray = field(default_factory=lambda: np.empty((0, 5), dtype=np.int64))
    cuts: list[Cut] = field(default_factory=list)
    crlf_ends: int = 0               # record (line) ends that are CRLF
    lf_ends: int = 0                 # ... and LF alone
    lf_total: int = 0
    cr_total: int = 0
    bare_cr: bool = False            # a CR not followed by LF outside quotes
    nul: bool = False                # a NUL byte somewhere
    bom_inside: bool = False         # a UTF-8 BOM after the first bytes

    @property
    def mixed_line_ends(self) -> bool:
        return self.crlf_ends > 0 and self.lf_ends > 0

    @property
    def cr_only(self) -> bool:
        return self.lf_total == 0 and self.cr_total > 0

    @property
    def needs_copy(self) -> bool:
        return bool(self.cuts) or self.mixed_line_ends or self.cr_only

    def unclosed(self) -> Cut | None:
        return next((c for c in self.cuts if c.kind == "unclosed"), None)


class CsvFramer:
    """Feed the bytes of a CSV file in chunks (:meth:`feed`), then :meth:`finish`."""

    def __init__(self, delimiter: str, max_record: int | None = None) -> None:
        self.d = ord(delimiter)
        self.max = max_record or MAX_RECORD_BYTES
        self.f = Framing()
        self.pos = 0                  # absolute offset of the next chunk
        self.inq = False              # inside quotes at the end of what was fed
        self.held = b""               # quotes, spaces, CRs ending the last chunk (framed later)
        self.fed = 0                  # bytes fed
        self.prev = LF                # the byte before the next chunk (file start: a line start)
        self.prev_ns = LF             # the last byte before it that is not a space
        self.trailing_spaces = 0      # spaces after that byte
        self.rec_start = 0            # first byte of the current record
        self.lf_carry = 0             # LFs inside the current record, in earlier chunks
        self.next_line = 1            # physical line of the current record's start
        self.next_lline = 1           # logical line (DuckDB's numbering) of the current record
        self.head_buf = bytearray()   # bytes of the file until the header record is complete
        self.ncols = 0
        self.bom = 0
        self.ended = False            # the last quote run closed a quoted field
        self._blank: list[np.ndarray] = []
        self._multi: list[np.ndarray] = []
        self._bare: list[int] = []    # positions of bare CRs outside quotes
        self._junk: list[int] = []    # positions of text after a closing quote

    # ---------------------------------------------------------------- quote state
    @staticmethod
    def _apply(state: bool, length: int, fs: bool) -> bool:
        if length % 2 == 0:
            return state
        return (not state) if fs else False

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.f.header is None and len(self.head_buf) <= self.max:
            self.head_buf += chunk
        if not self.f.nul and 0 in chunk:   # memchr
            self.f.nul = True
        fed = self.fed
        self.fed += len(chunk)
        if not self.f.bom_inside and (chunk.find(BOM, 3 if fed == 0 else 0) >= 0 or (
                self.held and (self.held[-2:] + chunk[:2]).find(BOM) >= 0)):
            self.f.bom_inside = True
        if fed == 0 and chunk.startswith(BOM):
            self.bom = 3
            self.rec_start = 3
        if self.held:       # quotes, spaces and CRs at the end of the last chunk: their meaning
            chunk = self.held + chunk       # depends on the bytes after them
            self.held = b""
        # hold back the same here (a small tail; a chunk of nothing else is framed as it is)
        k = len(chunk.rstrip(b'" \r'))
        if 0 < len(chunk) - k <= (1 << 20) and (k > 0 or len(chunk) <= (1 << 20)):
            chunk, self.held = chunk[:k], chunk[k:]
        if chunk:
            self._frame(chunk)

    def _frame(self, chunk: bytes, final: bool = False) -> None:
        n = len(chunk)
        a = np.frombuffer(chunk, dtype=np.uint8)
        base = self.pos
        s0 = self.inq
        # ---- quote runs and the state after each: T (a run at a field start) toggles, R (a run
        # inside an unquoted field or closing a quoted one) leaves the quotes; even runs nothing
        if b'"' in chunk:
            q = np.flatnonzero(a == QUOTE)
            brk = np.flatnonzero(np.diff(q) != 1) + 1
            rs = q[np.r_[0, brk]]
            ren = q[np.r_[brk - 1, len(q) - 1]]
            ln = ren - rs + 1
            pb = np.where(rs > 0, a[np.maximum(rs - 1, 0)], self.prev)
            fs = (pb == self.d) | (pb == LF)
            # quotes after spaces: a field start when one space follows a delimiter; after a
            # closing quote and spaces DuckDB reopens the field ("a"  "b" is a  b)
            after_quote = np.zeros(len(rs), dtype=bool)
            for j in np.flatnonzero(pb == SPACE):
                b, spaces = self._before_spaces(chunk, int(rs[j]))
                fs[j] = spaces == 1 and b in (self.d, LF)   # DuckDB: one space, not more
                after_quote[j] = b == QUOTE
            if base == self.bom and self.bom and rs[0] == 0:
                fs[0] = True
            if after_quote.any():
                ev, state, t = self._sequential(chunk, s0, rs, ren, ln, fs, after_quote)
            else:
                t = fs
                ev, state = self._vectorised(s0, ren, ln, fs)
                j = int(np.searchsorted(ev, ren[-1])) - 1      # did the last run close a field?
                before = bool(state[j]) if j >= 0 else s0
                odd_last = bool(ln[-1] & 1)
                self.ended = (before and odd_last) or (not before and bool(fs[-1])
                                                       and not odd_last)
            self._junk_after_close(a, n, base, s0, ev, state, rs, ren, ln, t)
        else:
            ev = _EMPTY
            state = np.empty(0, dtype=bool)
        self._after(chunk, a, base, n, s0, ev, state)

    def _vectorised(self, s0: bool, ren, ln, fs):
        """The state after each odd run: T (a run at a field start) toggles, R leaves quotes."""
        odd = (ln & 1) == 1
        ev = ren[odd]
        is_t = fs[odd]
        if not len(ev):
            return ev, np.empty(0, dtype=bool)
        ct = np.cumsum(is_t)
        last_r = np.maximum.accumulate(np.where(~is_t, np.arange(len(ev)), -1))
        at_r = np.where(last_r >= 0, ct[np.maximum(last_r, 0)], 0)
        init = np.where(last_r >= 0, 0, int(s0))
        return ev, ((ct - at_r + init) & 1).astype(bool)

    def _sequential(self, chunk: bytes, s0: bool, rs, ren, ln, fs, after_quote):
        """Run by run, for a chunk with a quote after a quote and spaces: it reopens the field
        when that quote closed one ("a"  "b" reads a  b), and is a plain character otherwise."""
        state = s0
        ended = self.ended
        evs, states, ts = [], [], []
        for end, length, f, aq in zip(ren.tolist(), ln.tolist(), fs.tolist(),
                                      after_quote.tolist()):
            before = state
            t = f or (aq and ended)
            ts.append(t)
            state = self._apply(state, length, t)
            ended = (before and length % 2 == 1) or (not before and t and length % 2 == 0)
            if length % 2:
                evs.append(end)
                states.append(state)
        self.ended = ended
        return (np.array(evs, dtype=np.int64), np.array(states, dtype=bool),
                np.array(ts, dtype=bool))

    def _junk_after_close(self, a, n, base, s0, ev, state, rs, ren, ln, t) -> None:
        """Note where text other than spaces, a delimiter or a line end follows a closing quote
        (``"a"x``): DuckDB cannot read the record and, on a line with two of them, its recovery
        has been seen to make up a row. Such records are cut out before it reads the file."""
        if len(ev):
            j = np.searchsorted(ev, rs) - 1
            before = np.where(j >= 0, state[np.maximum(j, 0)], s0)
        else:
            before = np.full(len(rs), s0, dtype=bool)
        odd = (ln & 1) == 1
        closing = np.flatnonzero((before & odd) | (~before & t & ~odd))
        if not len(closing):
            return
        nxt = ren[closing] + 1
        inside_chunk = nxt < n                    # a run at the end of the file: nothing after
        nxt, closing = nxt[inside_chunk], closing[inside_chunk]
        if not len(nxt):
            return
        nb = a[nxt]
        junk = ~((nb == self.d) | (nb == LF) | (nb == CR) | (nb == SPACE))
        for i in np.flatnonzero(nb == SPACE):
            k = int(nxt[i])
            while k < n and a[k] == SPACE:
                k += 1
            junk[i] = k < n and a[k] not in (self.d, LF, CR, QUOTE)
        if junk.any():
            self._junk.extend((nxt[junk] + base).tolist())

    def _before_spaces(self, chunk: bytes, i: int) -> tuple[int, int]:
        """The byte before the spaces that precede chunk[i], and how many spaces there are."""
        j = i - 1
        while j >= 0 and chunk[j] == SPACE:
            j -= 1
        if j >= 0:
            return chunk[j], i - 1 - j
        return self.prev_ns, i + self.trailing_spaces

    def _after(self, chunk: bytes, a: np.ndarray, base: int, n: int, s0: bool, ev, state) -> None:
        def inside(pos: np.ndarray) -> np.ndarray:
            if not len(ev):
                return np.full(len(pos), s0, dtype=bool)
            j = np.searchsorted(ev, pos) - 1
            return np.where(j >= 0, state[np.maximum(j, 0)], s0)

        nl = np.flatnonzero(a == LF)
        self.f.lf_total += len(nl)
        # ---- bare CRs outside quotes (DuckDB stops on them); a CR ending the file is a line end
        if b"\r" in chunk:
            cr = np.flatnonzero(a == CR)
            self.f.cr_total += len(cr)
            if cr[-1] == n - 1:
                cr = cr[:-1]
            bare = cr[a[cr + 1] != LF]
            if len(bare):
                bare = bare[~inside(bare)]
                self._bare.extend((bare + base).tolist())
        # ---- record ends: LFs outside quotes
        st = inside(nl)
        idx = np.flatnonzero(~st)
        ends = nl[idx]
        if len(ends):
            self._records(a, base, ends, idx)
            self.rec_start = base + int(ends[-1]) + 1
            self.lf_carry = len(nl) - 1 - int(idx[-1])
        else:
            self.lf_carry += len(nl)
        self.inq = bool(state[-1]) if len(state) else s0
        self.prev = chunk[-1]
        stripped = chunk.rstrip(b" ")
        if stripped:
            self.prev_ns = stripped[-1]
            self.trailing_spaces = n - len(stripped)
        else:
            self.trailing_spaces += n
        self.pos += n

    # ---------------------------------------------------------------- records
    def _records(self, a: np.ndarray, base: int, ends: np.ndarray, idx: np.ndarray) -> None:
        e_abs = ends.astype(np.int64) + base
        starts = np.r_[self.rec_start, e_abs[:-1] + 1]
        lens = e_abs - starts
        before = np.where(ends > 0, a[np.maximum(ends - 1, 0)], self.prev)
        crlf = before == CR
        blank = (lens == 0) | ((lens == 1) & crlf)
        nlines = np.diff(np.r_[-1 - self.lf_carry, idx])
        lines = self.next_line + np.r_[0, np.cumsum(nlines[:-1])]
        llines = self.next_lline + np.arange(len(ends))
        self.f.crlf_ends += int(crlf.sum())
        self.f.lf_ends += int(len(ends) - crlf.sum())
        self.next_line += int(nlines.sum())
        self.next_lline += len(ends)
        first = 0
        if self.f.header is None:
            while first < len(ends) and blank[first]:     # blank lines before the header
                self.f.cuts.append(Cut(int(starts[first]), int(e_abs[first]) + 1, "blank",
                                       int(lines[first])))
                first += 1
            if first == len(ends):
                return
            self._set_header(int(starts[first]), int(e_abs[first]) - int(crlf[first]),
                             int(lines[first]))
            first += 1
        sl = slice(first, None)
        self._data(starts[sl], e_abs[sl], lens[sl], blank[sl], nlines[sl], lines[sl], llines[sl])

    def _set_header(self, start: int, end: int, line: int) -> None:
        if end - start > self.max:
            raise ValueError(f"the header row is longer than {_mib(self.max)} MiB")
        self.f.header = bytes(self.head_buf[start:end])
        self.f.header_line = line
        self.head_buf = bytearray()
        text = self.f.header.decode("utf-8", errors="replace")
        try:
            row = next(csv.reader(io.StringIO(text), delimiter=chr(self.d), quotechar='"'), [])
        except csv.Error:        # the loader refuses such a header (readers._set_header)
            row = text.split(chr(self.d))
        self.ncols = max(len(row), 1)

    def _data(self, starts, ends, lens, blank, nlines, lines, llines) -> None:
        if not len(starts):
            return
        if self.ncols > 1:
            if blank.any():
                self._blank.append(llines[blank])
            keep = ~blank
        else:
            keep = np.ones(len(starts), dtype=bool)
        self.f.records += int(keep.sum())
        multi = keep & (nlines > 1)
        if multi.any():
            self._multi.append(np.stack([llines[multi], starts[multi], ends[multi], lines[multi],
                                         nlines[multi]], axis=1).astype(np.int64))
        big = np.flatnonzero(keep & (lens > self.max))
        for i in big:
            self.f.cuts.append(Cut(int(starts[i]), int(ends[i]) + 1, "oversize", int(lines[i]),
                                   int(nlines[i])))
        for attr, kind in (("_bare", "bare_cr"), ("_junk", "bad_quote")):
            marks = getattr(self, attr)
            if not marks:
                continue
            pos = np.array(marks, dtype=np.int64)
            rec = np.searchsorted(ends, pos)           # the record each mark belongs to
            setattr(self, attr, pos[rec >= len(ends)].tolist())   # records not ended yet
            pos, rec = pos[rec < len(ends)], rec[rec < len(ends)]
            for i in sorted(set(rec[pos >= starts[rec]].tolist())):
                if keep[i] and lens[i] <= self.max and not self._cut_at(int(starts[i])):
                    self.f.cuts.append(Cut(int(starts[i]), int(ends[i]) + 1, kind,
                                           int(lines[i]), int(nlines[i])))

    def _cut_at(self, start: int) -> bool:
        return any(c.start == start for c in self.f.cuts[-4:])

    def finish(self) -> Framing:
        if self.held:
            held, self.held = self.held, b""
            self._frame(held, final=True)
        end = self.pos
        if end and self.prev == CR and not self.inq:
            self.f.crlf_ends += 1     # a CR ending the file ends a line (in an LF file: mixed)
        if self.rec_start < end:
            tail_lines = self.lf_carry + 1
            if self.inq:
                self.f.cuts.append(Cut(self.rec_start, end, "unclosed", self.next_line,
                                       tail_lines))
            else:
                only_cr = end - self.rec_start == 1 and self.prev == CR
                blank = only_cr
                line, lline = self.next_line, self.next_lline
                if self.f.header is None:
                    if not blank:
                        self._set_header(self.rec_start, end, line)
                else:
                    # a last record without a line end (a CR at its end is a line end)
                    self._bare = [b for b in self._bare if b < end - 1]
                    self._data(np.array([self.rec_start]), np.array([end]),
                               np.array([end - self.rec_start]), np.array([blank]),
                               np.array([tail_lines]), np.array([line]), np.array([lline]))
        self.f.size = end
        self.f.bare_cr = bool(self._bare) or any(c.kind == "bare_cr" for c in self.f.cuts)
        self._bare, self._junk = [], []     # marks in the unclosed tail: it is cut whole
        self.f.blank = np.concatenate(self._blank) if self._blank else _EMPTY
        self.f.multi = (np.concatenate(self._multi) if self._multi
                        else np.empty((0, 5), dtype=np.int64))
        self.f.cuts.sort(key=lambda c: c.start)
        return self.f


class LineFramer:
    """JSON Lines: one record per physical line (numbered from 1, blank lines included)."""

    def __init__(self, max_record: int | None = None) -> None:
        self.max = max_record or MAX_RECORD_BYTES
        self.f = Framing()
        self.pos = 0
        self.line_start = 0
        self.line = 1
        self.prev = LF
        self.cr_at_end = False

    def feed(self, chunk: bytes) -> None:
        n = len(chunk)
        if not n:
            return
        a = np.frombuffer(chunk, dtype=np.uint8)
        base = self.pos
        if not self.f.nul and 0 in chunk:
            self.f.nul = True
        nl = np.flatnonzero(a == LF)
        self.f.lf_total += len(nl)
        if self.cr_at_end and a[0] != LF:
            self.f.bare_cr = True
        self.cr_at_end = False
        if b"\r" in chunk:
            cr = np.flatnonzero(a == CR)
            self.f.cr_total += len(cr)
            if cr[-1] == n - 1:
                self.cr_at_end = True
                cr = cr[:-1]
            if (a[cr + 1] != LF).any():
                self.f.bare_cr = True
        if len(nl):
            e_abs = nl.astype(np.int64) + base
            starts = np.r_[self.line_start, e_abs[:-1] + 1]
            before = np.where(nl > 0, a[np.maximum(nl - 1, 0)], self.prev)
            crlf = before == CR
            self.f.crlf_ends += int(crlf.sum())
            self.f.lf_ends += int(len(nl) - crlf.sum())
            lens = e_abs - starts
            for i in np.flatnonzero(lens > self.max):
                self.f.cuts.append(Cut(int(starts[i]), int(e_abs[i]), "oversize",
                                       self.line + int(i)))
            self.line += len(nl)
            self.line_start = int(e_abs[-1]) + 1
        self.prev = chunk[-1]
        self.pos += n

    def finish(self) -> Framing:
        end = self.pos
        if end - self.line_start > self.max:
            self.f.cuts.append(Cut(self.line_start, end, "oversize", self.line))
        self.f.records = self.line if end > self.line_start else self.line - 1
        self.f.size = end
        return self.f


# --------------------------------------------------------------------------------------------
# the repaired copy

REASONS = {
    "oversize": "record of {size} bytes is over the {limit} MiB limit",
    "bare_cr": "unreadable record: a carriage return inside an unquoted value",
    "unclosed": "unreadable record: a quote in it is never closed",
    "unclosed_more": "unreadable record: inside the unclosed quote of the record on line {line}",
    "bad_quote": "unreadable record: text after a closing quote",
    "bad_quote_more": ("unreadable record: line {i} of the record on line {line}, whose quoted "
                       "value spans {lines} lines"),
}


@dataclass
class CutRow:
    """A rejected row made from cut bytes: before data record ``before`` (CSV) or on ``line``."""

    before: int
    line: int
    reason: str
    raw: str
    raw_bytes: int
    raw_sha256: str


class _Piece:
    """Collects the bytes of one cut record (or one line of it) without its line end: length,
    sha256 and the first RAW_KEEP bytes."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.n = 0
        self.keep = bytearray()
        self.tail = b""             # the last two bytes wait: they may be the line end

    def add(self, b: bytes) -> None:
        b = self.tail + b
        b, self.tail = b[:-2], b[-2:]
        self.h.update(b)
        self.n += len(b)
        if len(self.keep) < RAW_KEEP:
            self.keep += b[: RAW_KEEP - len(self.keep)]

    def done(self) -> "_Piece":
        tail = self.tail[:-2] if self.tail.endswith(b"\r\n") else self.tail.removesuffix(b"\n")
        self.tail = b""
        self.h.update(tail)
        self.n += len(tail)
        if len(self.keep) < RAW_KEEP:
            self.keep += tail[: RAW_KEEP - len(self.keep)]
        return self

    def text(self) -> str:
        return bytes(self.keep).decode("utf-8", errors="replace")


def sanitize(path: Path, out: Path, framing: Framing, framer) -> tuple[Framing, list[CutRow]]:
    """Write ``path`` to ``out`` without the cut bytes and with uniform line ends (LF where the
    file mixes CRLF and LF; CR alone becomes LF). ``framer`` (a fresh framer of the same kind)
    frames the copy. Returns the copy's framing and the rows made of the cut bytes."""
    cuts = [c for c in framing.cuts]
    is_csv = isinstance(framer, CsvFramer)
    rows: list[CutRow] = []
    crlf = framing.mixed_line_ends
    cr_only = framing.cr_only
    ci = 0
    piece: _Piece | None = None
    line_piece: _Piece | None = None
    line_no = 0
    held_cr = False

    def emit(kind: str, cut: Cut, p: _Piece, line: int) -> None:
        if kind == "blank":
            return
        p.done()
        reason = REASONS[kind].format(size=p.n, limit=_mib(framer.max), line=cut.line,
                                      i=line - cut.line + 1, lines=cut.lines)
        before = framer.f.records if is_csv else line
        rows.append(CutRow(before, line, reason, p.text(), p.n, p.h.hexdigest()))

    def write(w, b: bytes) -> None:
        nonlocal held_cr
        if not b:
            return
        if cr_only:
            b = b.replace(b"\r", b"\n")
        elif crlf or (not is_csv and framing.bare_cr):
            if held_cr:
                b = (b"" if b.startswith(b"\n") else b"\r") + b
                held_cr = False
            if b.endswith(b"\r"):
                held_cr, b = True, b[:-1]
            b = b.replace(b"\r\n", b"\n")
            if not is_csv:
                b = b.replace(b"\r", b" ")      # JSON: a bare CR is white space
        w.write(b)
        framer.feed(b)

    with open(path, "rb") as r, open(out, "wb") as w:
        pos = 0
        while chunk := r.read(CHUNK):
            i = 0
            n = len(chunk)
            while i < n:
                cut = cuts[ci] if ci < len(cuts) else None
                at = pos + i
                if cut is None or at < cut.start:
                    stop = n if cut is None else min(n, cut.start - pos)
                    write(w, chunk[i:stop])
                    i = stop
                    continue
                # inside cut `cut`
                stop = min(n, cut.end - pos)
                part = chunk[i:stop]
                if cut.kind in ("unclosed", "bad_quote"):      # one row per physical line
                    j = 0
                    while j < len(part):
                        if line_piece is None:
                            line_piece, line_no = _Piece(), line_no or cut.line
                        k = part.find(b"\n", j)
                        seg = part[j: len(part) if k < 0 else k + 1]
                        line_piece.add(seg)
                        j += len(seg)
                        if k >= 0:
                            emit(cut.kind if line_no == cut.line else cut.kind + "_more", cut,
                                 line_piece, line_no)
                            line_piece, line_no = None, line_no + 1
                else:
                    piece = piece or _Piece()
                    piece.add(part)
                i = stop
                if pos + i >= cut.end:
                    if cut.kind in ("unclosed", "bad_quote"):
                        if line_piece is not None:
                            emit(cut.kind if line_no == cut.line else cut.kind + "_more", cut,
                                 line_piece, line_no)
                        line_piece, line_no = None, 0
                    else:
                        emit(cut.kind, cut, piece, cut.line)
                        piece = None
                    ci += 1
            pos += n
        if held_cr:     # the file ended in CR: a line end, made LF like the others
            w.write(b"\n")
            framer.feed(b"\n")
    return framer.finish(), rows


def _mib(n: int) -> str:
    return f"{n / (1 << 20):g}"


def read_span(path: Path, start: int, end: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start)


def read_line_at(path: Path, start: int, limit: int | None = None) -> bytes:
    """The bytes of the line starting at ``start`` (blank lines before it skipped), without its
    line end; at most ``limit`` bytes."""
    limit = limit or MAX_RECORD_BYTES + (1 << 20)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(min(limit, CHUNK))
        data = data.lstrip(b"\r\n")
        out = bytearray()
        while True:
            k = data.find(b"\n")
            if k >= 0:
                out += data[:k]
                break
            out += data
            if len(out) >= limit:
                break
            data = f.read(CHUNK)
            if not data:
                break
        return bytes(out).rstrip(b"\r")


def detect_delimiter(head: bytes, tsv: bool, candidates: tuple[str, ...]) -> str:
    """The delimiter of a CSV file from its first line: tab for .tsv, else the candidate seen
    most often outside quotes (the first of them on a tie, ``,`` when none is)."""
    if tsv:
        return "\t"
    first = head.removeprefix(BOM).split(b"\n", 1)[0].decode("latin-1")
    import re
    outside = re.sub(r'"[^"]*"', "", first)
    counts = {d: len(outside.split(d)) - 1 for d in candidates}
    best = max(counts.values())
    return "," if best == 0 else next(d for d in candidates if counts[d] == best)
