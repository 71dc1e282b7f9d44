"""Vectorised id formats for the synthetic world (Salesforce, HubSpot, Zendesk, Stripe, ERP).

Ids are computed from a record's sequence number rather than drawn at random so that they are unique by
construction (no "have I used this one?" set at a million accounts) and stable: account 0 has the same
Salesforce id in every world, whatever the seed, which lets a test or a demo script name it.
Everything is done on numpy arrays because at 1M accounts plus ~4M contacts a per-id Python loop of
divmods would dominate generation time.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62 = np.frombuffer(BASE62.encode("ascii"), dtype=np.uint8)
# Salesforce's 15→18 suffix alphabet: 5 "is upper case" bits per 5-char chunk index into it.
_SUFFIX = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", dtype=np.uint8)

IntArray = npt.NDArray[np.int64]


def _base62_digits(nums: npt.NDArray[np.uint64], width: int) -> npt.NDArray[np.uint8]:
    """Fixed-width big-endian base-62 ASCII digits of each number, shape (len(nums), width)."""
    out = np.empty((len(nums), width), dtype=np.uint8)
    rest = nums.astype(np.uint64, copy=True)
    for pos in range(width - 1, -1, -1):
        out[:, pos] = _B62[(rest % np.uint64(62)).astype(np.intp)]
        rest //= np.uint64(62)
    return out


def _to_str(chars: npt.NDArray[np.uint8]) -> list[str]:
    """Rows of ASCII codes → Python strings, in C (``view`` as fixed bytes, then one decode)."""
    width = chars.shape[1]
    flat = np.ascontiguousarray(chars).view(f"S{width}").ravel()
    return list(flat.astype(f"U{width}").tolist())


def salesforce_ids(key_prefix: str, seq: npt.ArrayLike) -> list[str]:
    """18-character Salesforce ids (``001`` Account, ``003`` Contact, ``005`` User) for sequence numbers.

    Layout of the 15-char id: 3-char key prefix, 2-char pod ("Dn"), a reserved ``0`` and 9 base-62 digits;
    then the real case-insensitivity checksum (3 chars), so that ids survive tools that validate it.
    """
    nums = np.asarray(seq, dtype=np.uint64) + np.uint64(1)
    n = len(nums)
    body = np.empty((n, 18), dtype=np.uint8)
    head = np.frombuffer((key_prefix + "Dn0").encode("ascii"), dtype=np.uint8)
    body[:, :6] = head
    body[:, 6:15] = _base62_digits(nums, 9)
    upper = (body[:, :15] >= ord("A")) & (body[:, :15] <= ord("Z"))
    weights = (1 << np.arange(5)).astype(np.int64)
    for chunk in range(3):
        idx = upper[:, chunk * 5:(chunk + 1) * 5].astype(np.int64) @ weights
        body[:, 15 + chunk] = _SUFFIX[idx]
    return _to_str(body)


def salesforce_checksum_ok(sfid: str) -> bool:
    """True when an 18-char id's suffix matches its 15-char body (what Salesforce itself checks)."""
    if len(sfid) != 18:
        return False
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(sfid[chunk * 5:(chunk + 1) * 5]) if "A" <= ch <= "Z")
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return suffix == sfid[15:]


def scrambled_ids(prefix: str, seq: npt.ArrayLike, salt: int) -> list[str]:
    """Stripe-looking ids (``cus_``, ``sub_``, ``in_``, ``card_``): random-looking yet unique.

    ``x → (x·odd + salt) mod 2⁶⁴`` followed by an xor-shift is a bijection on 64-bit integers, so distinct
    sequence numbers can never collide, while the base-62 text looks like Stripe's random ids.
    """
    x = np.asarray(seq, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = x * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
        x ^= x >> np.uint64(31)
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    digits = _base62_digits(x, 11)
    pre = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    rows = np.empty((len(x), len(pre) + 11), dtype=np.uint8)
    rows[:, : len(pre)] = pre
    rows[:, len(pre):] = digits
    return _to_str(rows)


def numeric_ids(base: int, seq: npt.ArrayLike) -> list[str]:
    """HubSpot-style numeric string ids (``base + seq``)."""
    return [str(v) for v in (np.asarray(seq, dtype=np.int64) + base).tolist()]


def erp_ids(seq: npt.ArrayLike) -> list[str]:
    """ERP numbers ``ERP-000123`` (at least six digits, more past a million)."""
    return [f"ERP-{v:06d}" for v in (np.asarray(seq, dtype=np.int64) + 1).tolist()]
