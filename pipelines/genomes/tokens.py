"""Nucleotide tokens: bytes -> ids (A=0, C=1, G=2, T=3, N=4) with a separate soft-mask flag.

Every conversion is a 256-entry lookup table applied to a uint8 array, so a megabase costs a few
milliseconds. IUPAC ambiguity codes (R, Y, K, M, S, W, B, D, H, V) become N; lower case (soft-masked
repeats) gives the same id as upper case and sets the mask flag.

Windows are stored and moved around "packed": one byte per base, ``id | MASK_BIT`` when masked. One
array then carries both the ids and the flags, and the reverse complement of a packed window is one
table lookup on the reversed bytes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

VOCAB: tuple[str, ...] = ("A", "C", "G", "T", "N")
A_ID, C_ID, G_ID, T_ID, N_ID = range(5)
VOCAB_SIZE = len(VOCAB)
IUPAC_AMBIGUOUS = "RYKMSWBDHV"
"""Ambiguity codes other than N; each becomes N."""

MASK_BIT = 8
"""Set in a packed byte when the base was lower case (soft-masked)."""
INVALID = 255
"""What the lookup tables give for a byte that is not a nucleotide letter."""
MAX_K = 31
"""Largest k for k-mer ids: 4**31 + 1 still fits in int64."""


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ids = np.full(256, INVALID, dtype=np.uint8)
    for letter, token in zip("ACGTN", range(5), strict=True):
        ids[ord(letter)] = ids[ord(letter.lower())] = token
    for letter in IUPAC_AMBIGUOUS:
        ids[ord(letter)] = ids[ord(letter.lower())] = N_ID
    masked = np.zeros(256, dtype=bool)
    masked[[ord(c) for c in "acgtn" + IUPAC_AMBIGUOUS.lower()]] = True
    packed = np.where(ids == INVALID, INVALID, ids | (masked.astype(np.uint8) * MASK_BIT)).astype(np.uint8)
    # Complement of a packed byte: A<->T, C<->G, N->N, the mask bit kept. Indexed by packed value.
    complement = np.full(256, INVALID, dtype=np.uint8)
    for token in range(VOCAB_SIZE):
        comp = 3 - token if token < N_ID else N_ID
        complement[token] = comp
        complement[token | MASK_BIT] = comp | MASK_BIT
    return ids, masked, packed, complement


TOKEN_LUT, MASK_LUT, PACKED_LUT, PACKED_COMPLEMENT_LUT = _tables()
"""256-entry tables over bytes: token id (INVALID if not a nucleotide), soft-mask flag, packed byte;
and over packed bytes: the packed complement."""

COMPLEMENT_IDS = np.array([T_ID, G_ID, C_ID, A_ID, N_ID], dtype=np.uint8)
"""Complement of each token id (N stays N)."""


class Tokens(NamedTuple):
    """Token ids (uint8, 0..4) and soft-mask flags (bool) of the same length."""

    ids: np.ndarray
    mask: np.ndarray


class InvalidBaseError(ValueError):
    """A byte that is not a nucleotide letter; `position` is its 0-based index in the input."""

    def __init__(self, position: int, char: str):
        self.position = position
        self.char = char
        super().__init__(f"invalid character {char!r} at position {position}")


def show_byte(byte: int) -> str:
    """A byte quoted for an error message: 'X', '\\r', '\\xe9'."""
    return "'" + repr(bytes([byte]))[2:-1] + "'"


def as_bytes_array(seq: str | bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """A read-only uint8 view of `seq` (no copy for bytes / uint8 arrays).

    A str must be ASCII; the first non-ASCII character raises InvalidBaseError.
    """
    if isinstance(seq, np.ndarray):
        if seq.dtype != np.uint8:
            raise TypeError(f"expected a uint8 array of bytes, got dtype {seq.dtype}")
        return seq
    if isinstance(seq, str):
        try:
            seq = seq.encode("ascii")
        except UnicodeEncodeError as err:
            raise InvalidBaseError(err.start, seq[err.start]) from None
    return np.frombuffer(seq, dtype=np.uint8)


def first_invalid(data: np.ndarray) -> int:
    """Index of the first byte that is not a nucleotide letter, or -1 when all are."""
    bad = np.flatnonzero(TOKEN_LUT[data] == INVALID)
    return int(bad[0]) if bad.size else -1


def _check(data: np.ndarray, converted: np.ndarray) -> None:
    bad = np.flatnonzero(converted == INVALID)
    if bad.size:
        pos = int(bad[0])
        raise InvalidBaseError(pos, chr(data[pos]))


def encode(seq: str | bytes | bytearray | memoryview | np.ndarray) -> Tokens:
    """Letters -> (ids, mask). Raises InvalidBaseError on a byte that is not a nucleotide letter."""
    data = as_bytes_array(seq)
    ids = TOKEN_LUT[data]
    _check(data, ids)
    return Tokens(ids, MASK_LUT[data])


def encode_packed(seq: str | bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """Letters -> packed bytes (``id | MASK_BIT`` when lower case). Raises InvalidBaseError."""
    data = as_bytes_array(seq)
    packed = PACKED_LUT[data]
    _check(data, packed)
    return packed


def pack(ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(ids, mask) -> packed bytes."""
    ids = np.asarray(ids, dtype=np.uint8)
    if mask is None:
        return ids.copy()
    return ids | (np.asarray(mask, dtype=np.uint8) * np.uint8(MASK_BIT))


def unpack(packed: np.ndarray) -> Tokens:
    """Packed bytes -> (ids, mask)."""
    packed = np.asarray(packed, dtype=np.uint8)
    return Tokens(packed & np.uint8(MASK_BIT - 1), (packed & np.uint8(MASK_BIT)).astype(bool))


def decode(ids: np.ndarray, mask: np.ndarray | None = None) -> str:
    """(ids, mask) -> letters; masked positions in lower case. IUPAC codes were folded into N on encode,
    so decode(encode(s)) == s only for strings over A, C, G, T, N (either case)."""
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)[np.asarray(ids, dtype=np.intp)]
    if mask is not None:
        letters = letters | (np.asarray(mask, dtype=np.uint8) * np.uint8(0x20))  # ASCII lower case bit
    return letters.tobytes().decode("ascii")


def reverse_complement(ids: np.ndarray, mask: np.ndarray | None = None) -> Tokens:
    """Reverse complement on token ids: reverse, A<->T, C<->G, N stays N; the mask is reversed too."""
    ids = np.asarray(ids, dtype=np.uint8)
    rc_ids = COMPLEMENT_IDS[ids[::-1]]
    rc_mask = np.zeros(len(ids), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)[::-1].copy()
    return Tokens(rc_ids, rc_mask)


def reverse_complement_packed(packed: np.ndarray) -> np.ndarray:
    """Reverse complement of packed bytes (one lookup on the reversed array)."""
    return PACKED_COMPLEMENT_LUT[np.asarray(packed, dtype=np.uint8)[::-1]]


def kmer_vocab_size(k: int) -> int:
    """Number of k-mer ids: 4**k k-mers over A, C, G, T, plus one id for every k-mer containing N."""
    _check_k(k)
    return 4**k + 1


def kmer_n_id(k: int) -> int:
    """The id given to every k-mer that contains N (== 4**k, the last id)."""
    _check_k(k)
    return 4**k


def _check_k(k: int) -> None:
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be in 1..{MAX_K}, got {k}")


def kmer_ids(ids: np.ndarray, k: int) -> np.ndarray:
    """Overlapping k-mer ids (int64, length len(ids) - k + 1, empty when shorter than k).

    A k-mer over A, C, G, T is read as a base-4 number, first base most significant (AA..A = 0,
    TT..T = 4**k - 1); any k-mer that contains N gets the dedicated id 4**k.
    """
    _check_k(k)
    ids = np.asarray(ids, dtype=np.uint8)
    n = len(ids) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    wide = ids.astype(np.int64)
    out = np.zeros(n, dtype=np.int64)
    for j in range(k):  # k passes over the array: vectorised over positions, not per base
        out = out * 4 + wide[j : j + n]
    is_n = np.concatenate(([0], np.cumsum(ids == N_ID, dtype=np.int64)))
    out[(is_n[k:] - is_n[:-k]) > 0] = 4**k
    return out
