"""公民身份号码 arithmetic (GB 11643-1999), shared by the generator and the tests.

The pipeline normalises ID numbers set-based in SQL; these scalar helpers are
for building data and checking it, never for looping over a feed.
"""

from __future__ import annotations

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"


def check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def make_id(region: str, birth_yyyymmdd: str, sequence: int) -> str:
    """An 18-digit number; the sequence's last digit is odd for men, even for women."""
    first17 = f"{region}{birth_yyyymmdd}{sequence:03d}"
    return first17 + check_digit(first17)


def is_valid(id18: str) -> bool:
    return len(id18) == 18 and id18[:17].isdigit() and check_digit(id18[:17]) == id18[17]


def to_15(id18: str) -> str:
    """The old 15-digit form: no century, no check digit."""
    return id18[:6] + id18[8:17]


def mask(id_number: str) -> str:
    """First 6 and last 4 characters kept, the rest '*' (OUTPUTS.md person_masked_id)."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]
