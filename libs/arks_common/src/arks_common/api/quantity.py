"""The Kubernetes resource quantity (`30Gi`, `500m`, `1e3`): one grammar for the CRDs' pattern and for reading a
quantity's value, so what the API server admits is what the services can read, and nothing else. Pure.

The grammar is apimachinery's `resource.Quantity` (k8s.io/apimachinery v0.36.3, the Kubernetes 1.36 the local
cluster runs: pkg/api/resource/quantity.go, the comment on `Quantity`, and suffix.go, `interpret`):

    <quantity>        ::= <signedNumber><suffix>
    <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <signedNumber>    ::= <number> | <sign><number>
    <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
    <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
    <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
    <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>

`ParseQuantity` reads an exponent as an integer (`strconv.ParseInt`), so `1e1.5`, which the grammar's line and
controller-gen's pattern let through, is refused by the API server everywhere else; it is refused here too. Go's
parser also takes a bare sign or `.` as zero, which the grammar does not: refused here, as by controller-gen.
No surrounding spaces: a CRD pattern is matched against the text as it is (only core types' JSON decoding trims).
"""

from __future__ import annotations

import re
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

QUANTITY = r"^([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+))(([KMGTPE]i|[numkMGTPE])|[eE]([+-]?[0-9]+))?$"
"""A resource quantity as text, anchored, for CRD patterns (Go's RE2) and `quantity_value` alike."""

_QUANTITY = re.compile(QUANTITY.removesuffix("$") + r"\Z")  # Python's `$` also matches before a final newline
_FACTORS: dict[str, Decimal] = {
    **{s: Decimal(1024) ** i for i, s in enumerate(("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{s: Decimal(1000) ** i for i, s in enumerate(("", "k", "M", "G", "T", "P", "E")) if s},
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
}
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])
"""Exact arithmetic, and an out-of-range result is Infinity or 0 rather than an exception."""
_EXPONENT_DIGITS = 17
"""Longer exponents are beyond any Decimal (and beyond Go's int64): read as infinitely large or small."""


def quantity_value(text: str | int | None) -> Decimal | None:
    """The value of a quantity (`30Gi` -> 32212254720) exactly, so `1024Mi` and `1Gi` compare equal (the API server
    writes quantities back in its own form); None for anything the pattern refuses. An integer is a quantity, as
    Kubernetes takes it (the pattern applies to strings only)."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, int):
        return Decimal(text)
    match = _QUANTITY.match(text)
    if match is None:
        return None
    number, si, exponent = match.group(1), match.group(5), match.group(6)
    if exponent is None:
        return _EXACT.multiply(Decimal(number), _FACTORS[si or ""])
    sign, digits = ("-", exponent[1:]) if exponent.startswith("-") else ("", exponent.lstrip("+"))
    digits = digits.lstrip("0") or "0"
    if len(digits) > _EXPONENT_DIGITS:
        mantissa = Decimal(number)
        if sign or mantissa == 0:
            return Decimal(0)
        return Decimal("Infinity") if mantissa > 0 else Decimal("-Infinity")
    return Decimal(f"{number}E{sign}{digits}")
