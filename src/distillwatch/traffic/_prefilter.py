"""Which rows could a lexicon match? One compiled pass over the texts instead of a regex pass per lexicon.

A regex match contains certain literal strings: ``(rate|score) (the )?(response|answer)`` cannot match a
text holding neither "rate" nor "score", or neither "response" nor "answer". `required_clauses` reads
such conditions off a pattern's syntax tree, as clauses of a conjunction, each clause a set of literals
one of which must occur (a literal run is contiguous in any match; a repeat of at least one copies its
body's conditions; an alternation needs one of its branches', so it needs the union of one clause from
each; anything else requires nothing). A literal right after or before a ``\\b`` must also sit at a word
boundary there (RE2's ``\\b`` is ASCII, so this is checked on the bytes next to it): ``\\b(git|api)\\b``
leaves out the rows whose only "git" is in "digit"; one after ``^\\s*`` must start the text (after
whitespace only). A pattern with no clause stays a candidate everywhere.

`LexiconPrefilter` finds every literal of every clause in one Aho–Corasick pass per row (numba, no GIL)
and marks, per lexicon (any group of patterns: `traffic.lexicons` passes each flag pattern alone), the
rows where some pattern has all its clauses satisfied. Only those rows go to
RE2, so a lexicon's result is exactly the regex's: a row left out cannot match it. The literals are
matched on the UTF-8 bytes of lowercased text, as the lexicons are written. A pattern whose clauses
all hold 1-byte literals (``\\d\\s*[-+*/^=]\\s*\\d``: a digit and an operator) keeps them as sets of
bytes, checked on a mask of the bytes each row holds, built in the same pass.
"""

from __future__ import annotations

import re._constants as C
import re._parser as sre
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from numba import njit

from ._utf8 import ASCII_SPACE, ASCII_WORD, compact_layout

__all__ = ["LexiconPrefilter", "clause_atoms", "required_clauses"]

_SMALL_CLASS = 16  # a character class of at most this many characters is a clause of single characters
_MIN_BYTES = (3, 2, 1)  # a pattern keeps its clauses of 3-byte literals, else those of 2, else those of 1:
# a clause with a 1-byte literal is a set of bytes, checked on a per-row mask of the bytes present (a
# literal per byte in the automaton would stop at nearly every byte)
_BYTE_CLAUSES = 64  # the most byte clauses (bits of the mask); further ones are dropped (still a superset)
_MAX_CLAUSES = 3  # the most selective clauses kept per pattern
_MAX_BYTES = 16  # literals are cut to their first bytes (still required), which bounds the automaton: at 16
# it has 3,127 states (769 KB), and its candidates cost less RE2 than at 6 (2,172 states; "functi" stood for
# "function call"): flags 1.63 -> 0.91 and topics 2.79 -> 2.22 us per distinct prompt, the walk no slower


_BOUNDARY = "\b"  # marks an end of a clause's literal that must sit at a word boundary (RE2's ASCII \b)
_START = "\x02"  # marks a clause's literal that only whitespace (RE2's \s) may precede in the text (after ^\s*)


def _plain(literal: str) -> str:
    """A clause literal without its marks."""
    return literal.lstrip(_START + _BOUNDARY).rstrip(_BOUNDARY)


def _marks(literal: str) -> tuple[bool, bool, bool]:
    """(whether only whitespace may precede the literal, whether a word boundary must precede it, whether
    one must follow it)."""
    head = literal[:len(literal) - len(literal.lstrip(_START + _BOUNDARY))]
    return _START in head, _BOUNDARY in head, literal.endswith(_BOUNDARY) and _plain(literal) != ""


def _marked(text: str, left: bool, right: bool, start: bool = False) -> str:
    """`text` as a clause literal, with a boundary mark at each end that must sit at a word boundary and a
    start mark if only whitespace may precede it."""
    if _BOUNDARY in text or _START in text:
        raise ValueError(f"a lexicon literal may not hold the characters {_BOUNDARY!r} or {_START!r}")
    return (_START if start else "") + (_BOUNDARY if left else "") + text + (_BOUNDARY if right else "")


def _bytes(clause: frozenset[str]) -> int:
    """The fewest bytes of a literal of the clause (1: a byte clause)."""
    return min(len(_plain(a).encode()) for a in clause)


def _strength(clause: frozenset[str]) -> tuple[int, int]:
    """How selective a clause is: its weakest literal's bytes, each mark counted as one more (a word that
    must stand alone, "\\bif\\b", is rarer than its bytes anywhere), then fewer literals first."""
    return min(len(_plain(a).encode()) + sum(_marks(a)) for a in clause), -len(clause)


def _class_chars(items) -> set[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is C.LITERAL:
            chars.add(chr(av))
        elif op is C.RANGE and av[1] - av[0] < _SMALL_CLASS:
            chars.update(chr(c) for c in range(av[0], av[1] + 1))
        elif op is C.CATEGORY and av is C.CATEGORY_DIGIT:  # RE2's \d is ASCII
            chars.update("0123456789")
        else:  # NEGATE, CATEGORY (\s, \w), wide ranges
            return None
    return chars if 0 < len(chars) <= _SMALL_CLASS else None


def _literal_branch(op, av) -> list[str] | None:
    """The alternatives of a group ``(lit|lit|...)`` whose branches are all plain literals, else None."""
    if op is C.SUBPATTERN and len(av[3]) == 1:
        op, av = av[3][0]
    if op is not C.BRANCH:
        return None
    words = []
    for branch in av[1]:
        if not branch or any(o is not C.LITERAL for o, _ in branch):
            return None
        words.append("".join(chr(a) for _, a in branch))
    return words


def _is_boundary(op, av) -> bool:
    return op is C.AT and av is C.AT_BOUNDARY


def _is_space_run(op, av) -> bool:
    """Whether the item is ``\\s*`` (or ``\\s+``, ``\\s?``...): a repeat of RE2's whitespace class."""
    return (op in (C.MAX_REPEAT, C.MIN_REPEAT) and len(av[2]) == 1 and av[2][0][0] is C.IN
            and list(av[2][0][1]) == [(C.CATEGORY, C.CATEGORY_SPACE)])


def _clauses(items, left: bool = False, right: bool = False, start: bool = False) -> list[frozenset[str]]:
    """The clauses a match of the sequence `items` satisfies (a conjunction); `left`/`right`: the sequence
    is directly preceded/followed by ``\\b``; `start`: only whitespace can precede it in the text. A
    literal run or group of literal alternatives directly after (before) a ``\\b`` gets a boundary mark
    on its left (right) end: ``\\b(git|api)\\b`` needs "git" or "api" as a whole word, which "digit" and
    "capital" are not. One after ``^`` and whitespace only (``^\\s*(what|how)``) gets a start mark. A
    group of literal alternatives followed by a literal run also gives each alternative joined to the run,
    cut to its last `_MAX_BYTES` characters (``(response|answer) a`` needs "response a" or "answer a")."""
    out: list[frozenset[str]] = []
    run = ""
    run_left = run_start = False  # the run starts right after a \b / after whitespace only
    before: list[str] | None = None  # the literal alternatives just before `run`
    boundary = left  # a \b right before the current item
    anchored = start  # only whitespace before the current item

    def close_run(at_boundary: bool):
        if not run:
            return
        if not before or len(run) >= _MAX_BYTES:  # else each joined literal below holds the whole run
            out.append(frozenset([_marked(run, run_left, at_boundary, run_start)]))
        if before:  # implies the alternatives' own clause, which it replaces
            joined = frozenset(_marked((w + run)[-_MAX_BYTES:], False, at_boundary) for w in before)
            out[:] = [joined if frozenset(map(_plain, c)) == frozenset(before) else c for c in out]

    for k, (op, av) in enumerate(items):
        if op is C.LITERAL:
            if not run:
                run_left, run_start = boundary, anchored
            run += chr(av)
            boundary = anchored = False
            continue
        if _is_boundary(op, av):
            close_run(True)
            run, before, boundary = "", None, True
            continue
        if op is C.AT:  # other zero-width assertions: the literal characters around them stay contiguous
            if av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING) and not run:
                anchored = True  # ^ and \A: the text starts here (RE2 is not multi-line)
            continue
        close_run(False)
        run = ""
        child_left, child_start = boundary, anchored
        child_right = _is_boundary(*items[k + 1]) if k + 1 < len(items) else right
        boundary = False
        anchored = anchored and _is_space_run(op, av)
        before = _literal_branch(op, av)
        if op is C.IN:
            chars = _class_chars(av)
            if chars:
                out.append(frozenset(chars))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
            out.extend(_clauses(list(av[2])))  # a repeated body's copies need not each touch the boundaries
        elif op is C.SUBPATTERN:
            out.extend(_clauses(list(av[3]), child_left, child_right, child_start))
        elif op is C.BRANCH:
            best = [max(c, key=_strength) if (c := _clauses(list(b), child_left, child_right, child_start)) else None
                    for b in av[1]]
            if all(best):
                out.append(frozenset().union(*best))
    close_run(right)
    return out


def required_clauses(pattern: str) -> list[frozenset[str]]:
    """Sets of literals such that every match of `pattern` contains one literal of each set (at most
    `_MAX_CLAUSES`, the most selective; empty: nothing is known to be required). A literal may carry
    marks (see `_clauses`): ``"\\bgit\\b"`` (``\\b`` the backspace character), a word boundary at that end
    of it; a leading ``"\\x02"``, only whitespace before it in the text."""
    found = set(_clauses(list(sre.parse(pattern))))
    for least in _MIN_BYTES:
        clauses = [c for c in found if _strength(c)[0] >= least]
        if clauses:
            return sorted(clauses, key=lambda c: (_strength(c), sorted(c)), reverse=True)[:_MAX_CLAUSES]
    return []


def clause_atoms(clause: frozenset[str]) -> tuple[bool, frozenset[tuple[bytes, bool, bool, bool]]]:
    """(whether the clause is a byte clause, what the prefilter looks for): one of these (UTF-8 bytes;
    whether only whitespace may precede them in the row, whether a word boundary must precede them,
    whether one must follow them) must occur in a row's bytes. Literals are cut to their first
    `_MAX_BYTES` bytes (losing a boundary at their right end), or to their first byte in a clause holding
    a 1-byte literal (a byte clause: marks dropped)."""
    single = _bytes(clause) == 1
    atoms = set()
    for literal in clause:
        raw = _plain(literal).encode()
        cut = raw[:1 if single else _MAX_BYTES]
        start, left, right = _marks(literal) if not single else (False, False, False)
        atoms.add((cut, start, left, right and cut == raw))
    return single, frozenset(atoms)


def _automaton(atoms: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    """Aho–Corasick over bytes: (byte -> symbol, transitions, row shift, output offsets, output atom ids).

    Bytes that occur in no literal share symbol 0 (no state has an edge on them), which keeps the table
    small. Transitions are flat: the entry at ``row + symbol`` is the next state's row (state << shift, a
    power of two above the number of symbols), negated when that state has outputs, so a byte costs one
    load and one add. The outputs of a state include those of its failure chain."""
    used = sorted({b for atom in atoms for b in atom})
    symbol = np.zeros(256, dtype=np.int64)
    symbol[used] = np.arange(1, len(used) + 1)
    goto: list[dict[int, int]] = [{}]
    ends: list[list[int]] = [[]]
    for i, atom in enumerate(atoms):
        s = 0
        for b in atom:
            b = int(symbol[b])
            if b not in goto[s]:
                goto[s][b] = len(goto)
                goto.append({})
                ends.append([])
            s = goto[s][b]
        ends[s].append(i)
    shift = len(used).bit_length()  # symbols 0 .. len(used) fit below 1 << shift
    width = 1 << shift
    delta = np.zeros((len(goto), width), dtype=np.int64)
    fail = np.zeros(len(goto), dtype=np.int64)
    order = []
    for b, t in goto[0].items():
        delta[0, b] = t
        order.append(t)
    head = 0
    while head < len(order):  # breadth first: a state's failure target is complete before it
        s = order[head]
        head += 1
        ends[s] = ends[s] + ends[fail[s]]
        delta[s] = delta[fail[s]]
        for b, t in goto[s].items():
            fail[t] = delta[fail[s], b]
            delta[s, b] = t
            order.append(t)
    out_off = np.zeros(len(goto) + 1, dtype=np.int64)
    out_off[1:] = np.cumsum([len(e) for e in ends])
    out_ids = np.array([i for e in ends for i in e], dtype=np.int64)
    has_output = out_off[1:] > out_off[:-1]  # never the root: no literal is empty
    flat = np.where(has_output[delta], -delta * width, delta * width).ravel()
    if -flat.min() >= 2**31:
        raise ValueError("too many literals for the prefilter")
    return symbol.astype(np.int32), flat.astype(np.int32), shift, out_off, out_ids


@njit(inline="always", cache=True)
def _first_non_space(data, lo, hi, space):
    """The index of the first byte of data[lo:hi] that is not a `space` byte (hi if none)."""
    while lo < hi and space[data[lo]]:
        lo += 1
    return lo


@njit(inline="always", cache=True)
def _in_place(data, start, stop, lo, hi, first, at_start, left, right, word):
    """Whether data[start:stop], in the row data[lo:hi] whose first non-whitespace byte is at `first`, has
    only whitespace before it in the row if `at_start`, and a word boundary (RE2's \\b: `word` tells the
    ASCII word bytes; any other byte, and the row's ends, are not word characters) at its start if `left`
    and at its end if `right`. (No loop here: one inside the automaton's step made the walk twice as slow.)"""
    if at_start and first < start:
        return False
    if left and (start > lo and word[data[start - 1]]) == word[data[start]]:
        return False
    return not (right and (stop < hi and word[data[stop]]) == word[data[stop - 1]])


@njit(inline="always", cache=True)
def _found(state, lane, r, data, i, lo, hi, first, t, b):
    """Row `r` = data[lo:hi] (walked in `lane`; its first non-whitespace byte at `first`) reached `state`
    at its byte i: each literal the state outputs (ending at i) satisfies its clauses if it sits where its
    marks need it (`_in_place`), and a pattern whose clauses are all satisfied marks the row a candidate
    of its lexicon. `t`: the tables of `_candidates`; per lane, the last row each literal, clause and
    pattern was seen in. `b`: each literal's length, whether it has marks and which (`clause_atoms`), the
    word bytes (and the whitespace bytes, for `_candidates`)."""
    out_off, out_ids, atom_clause_off, atom_clauses, clause_pattern = t[:5]
    pattern_need, pattern_bytes, pattern_lexicon = t[5:8]
    atom_seen, clause_seen, pattern_seen, pattern_got, out = t[8:]
    atom_len, atom_marked, atom_start, atom_left, atom_right, word = b[:6]
    for k in range(out_off[state], out_off[state + 1]):
        a = out_ids[k]
        if atom_seen[lane, a] == r:
            continue
        if atom_marked[a] and not _in_place(data, i + 1 - atom_len[a], i + 1, lo, hi, first, atom_start[a],
                                            atom_left[a], atom_right[a], word):
            continue
        atom_seen[lane, a] = r
        for c in range(atom_clause_off[a], atom_clause_off[a + 1]):
            clause = atom_clauses[c]
            if clause_seen[lane, clause] == r:
                continue
            clause_seen[lane, clause] = r
            p = clause_pattern[clause]
            if pattern_seen[lane, p] != r:
                pattern_seen[lane, p] = r
                pattern_got[lane, p] = 0
            pattern_got[lane, p] += 1
            if pattern_got[lane, p] == pattern_need[p] and pattern_bytes[p] == 0:
                out[pattern_lexicon[p], r] = True


@njit(inline="always", cache=True)
def _row_end(lane, r, present, byte_patterns, t):
    """After row `r`'s last byte: each pattern with byte clauses holds if every one of its byte clauses
    has a byte in `present` (the row's mask) and its other clauses are all satisfied."""
    pattern_need, pattern_bytes, pattern_lexicon = t[5:8]
    pattern_seen, pattern_got, out = t[10:]
    for p in byte_patterns:
        if (present & pattern_bytes[p]) != pattern_bytes[p]:
            continue
        if pattern_need[p] == 0 or (pattern_seen[lane, p] == r and pattern_got[lane, p] == pattern_need[p]):
            out[pattern_lexicon[p], r] = True


@njit(inline="always", cache=True)
def _walk_rest(data, row_lo, lo, hi, first, state, present, lane, r, symbol, flat, shift, byte_mask, byte_patterns,
               t, b):
    """Row `r` = data[row_lo:hi] (first non-whitespace byte at `first`) walked on alone over data[lo:hi]
    from the automaton's `state` and the byte mask `present`, then finished (`_row_end`)."""
    for i in range(lo, hi):
        state = flat[state + symbol[data[i]]]
        present |= byte_mask[data[i]]
        if state < 0:
            state = -state
            _found(state >> shift, lane, r, data, i, row_lo, hi, first, t, b)
    _row_end(lane, r, present, byte_patterns, t)


@njit(nogil=True, cache=True)
def _candidates(data, off, symbol, flat, shift, byte_mask, out_off, out_ids, atom_clause_off, atom_clauses,
                clause_pattern, pattern_need, pattern_bytes, pattern_lexicon, n_lexicons, b):
    """Literal a is in the clauses atom_clauses[atom_clause_off[a]:atom_clause_off[a + 1]]; clause c belongs
    to pattern clause_pattern[c], which has pattern_need[p] such clauses and the byte clauses of the bits
    pattern_bytes[p] (byte_mask[b]: the byte clauses byte b is in). A pattern is satisfied in a row when
    each of its clauses had a literal occur in it (a pattern without clauses always is), where the
    literal's marks need it (`b`: see `_found`).

    Rows are walked two at a time, paired by length, in one loop: a step of the automaton waits on the
    one before it, so two independent walks keep the core busy where one leaves it waiting."""
    n = len(off) - 1
    space = b[6]
    out = np.zeros((n_lexicons, n), dtype=np.bool_)
    byte_patterns = np.flatnonzero(pattern_bytes)
    for p in range(len(pattern_need)):
        if pattern_need[p] == 0 and pattern_bytes[p] == 0:
            out[pattern_lexicon[p], :] = True
    t = (out_off, out_ids, atom_clause_off, atom_clauses, clause_pattern, pattern_need, pattern_bytes, pattern_lexicon,
         np.full((2, len(atom_clause_off) - 1), -1, dtype=np.int64),  # per lane (see _found)
         np.full((2, len(clause_pattern)), -1, dtype=np.int64),
         np.full((2, len(pattern_need)), -1, dtype=np.int64), np.zeros((2, len(pattern_need)), dtype=np.int64), out)
    order = np.argsort(off[1:] - off[:-1], kind="stable")
    for q in range(0, n, 2):
        ra = order[q]
        rb = order[q + 1] if q + 1 < n else ra
        ia, ea = off[ra], off[ra + 1]
        ib, eb = off[rb], off[rb + 1] if q + 1 < n else off[rb]
        m = min(ea - ia, eb - ib)
        fa = _first_non_space(data, ia, ea, space)
        fb = _first_non_space(data, ib, eb, space)
        sa = 0
        sb = 0
        ma = np.uint64(0)
        mb = np.uint64(0)
        for k in range(m):
            sa = flat[sa + symbol[data[ia + k]]]
            sb = flat[sb + symbol[data[ib + k]]]
            ma |= byte_mask[data[ia + k]]
            mb |= byte_mask[data[ib + k]]
            if sa < 0:
                sa = -sa
                _found(sa >> shift, 0, ra, data, ia + k, ia, ea, fa, t, b)
            if sb < 0:
                sb = -sb
                _found(sb >> shift, 1, rb, data, ib + k, ib, eb, fb, t, b)
        _walk_rest(data, ia, ia + m, ea, fa, sa, ma, 0, ra, symbol, flat, shift, byte_mask, byte_patterns, t, b)
        if q + 1 < n:
            _walk_rest(data, ib, ib + m, eb, fb, sb, mb, 1, rb, symbol, flat, shift, byte_mask, byte_patterns, t, b)
    return out


class LexiconPrefilter:
    """Candidate rows of each of `lexicons` (sequences of patterns) in one pass: see the module docstring."""

    def __init__(self, lexicons: Sequence[Sequence[str]]):
        atom_ids: dict[tuple[bytes, bool, bool, bool], int] = {}  # `clause_atoms`' (bytes, marks...)
        atom_clauses: list[list[int]] = []  # per literal, the clauses holding it
        clause_off, pattern_lexicon, pattern_bytes = [0], [], []
        self._byte_mask = np.zeros(256, dtype=np.uint64)  # per byte, the bits of the byte clauses holding it
        n_clauses = n_byte_clauses = 0
        for li, patterns in enumerate(lexicons):
            for pattern in patterns:
                bits = 0
                for clause in required_clauses(pattern):
                    single, atoms = clause_atoms(clause)
                    if single:
                        if n_byte_clauses < _BYTE_CLAUSES:
                            self._byte_mask[[a[0][0] for a in atoms]] |= np.uint64(1 << n_byte_clauses)
                            bits |= 1 << n_byte_clauses
                            n_byte_clauses += 1
                        continue
                    for atom in sorted(atoms):
                        a = atom_ids.setdefault(atom, len(atom_ids))
                        if a == len(atom_clauses):
                            atom_clauses.append([])
                        atom_clauses[a].append(n_clauses)
                    n_clauses += 1
                clause_off.append(n_clauses)
                pattern_lexicon.append(li)
                pattern_bytes.append(bits)
        self.n_lexicons = len(lexicons)
        self.atoms = list(atom_ids)
        self._symbol, self._flat, self._shift, self._out_off, self._out_ids = _automaton([a[0] for a in self.atoms])
        marks = np.array([a[1:] for a in self.atoms], dtype=np.bool_).reshape(len(self.atoms), 3)
        self._bounds = (np.array([len(a[0]) for a in self.atoms], dtype=np.int64), marks.any(axis=1),
                        marks[:, 0].copy(), marks[:, 1].copy(), marks[:, 2].copy(), ASCII_WORD, ASCII_SPACE)
        self._atom_clause_off = np.zeros(len(atom_clauses) + 1, dtype=np.int64)
        self._atom_clause_off[1:] = np.cumsum([len(c) for c in atom_clauses])
        self._atom_clauses = np.array([c for cs in atom_clauses for c in cs], dtype=np.int64)
        self._pattern_need = np.diff(np.array(clause_off, dtype=np.int64))
        self._clause_pattern = np.repeat(np.arange(len(self._pattern_need)), self._pattern_need)
        self._pattern_lexicon = np.array(pattern_lexicon, dtype=np.int64)
        self._pattern_bytes = np.array(pattern_bytes, dtype=np.uint64)

    def candidates(self, lowered: pa.Array) -> np.ndarray:
        """bool [lexicon, row]: False where the lexicon cannot match the (lowercased) text."""
        data, off = compact_layout(lowered)
        return _candidates(data, off, self._symbol, self._flat, self._shift, self._byte_mask, self._out_off,
                           self._out_ids, self._atom_clause_off, self._atom_clauses, self._clause_pattern,
                           self._pattern_need, self._pattern_bytes, self._pattern_lexicon, self.n_lexicons,
                           self._bounds)
