"""One resource-quantity grammar (arks_common.api.quantity): what the CRDs admit is what the model-loader reads, and
both are apimachinery's `resource.Quantity` (a quantity Kubernetes refuses is refused, one it takes is read, by
value)."""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any

import pytest

from arks_common.api.meta import QUANTITY
from arks_common.crdgen import MODEL_CRD
from support.builders import sample
from support.crd_validation import validate

MODEL = MODEL_CRD.to_k8s()

# (text, its value) for what Kubernetes' ParseQuantity takes; None for what it refuses
CASES: list[Any] = [
    pytest.param("30Gi", 30 * 1024**3, id="binary SI"),
    pytest.param("500M", 500 * 10**6, id="decimal SI"),
    pytest.param("250m", Decimal("0.25"), id="milli"),
    pytest.param("5n", Decimal("5e-9"), id="nano, which the loader used to refuse"),
    pytest.param("7u", Decimal("7e-6"), id="micro, which the loader used to refuse"),
    pytest.param("1e3", 1000, id="an exponent"),
    pytest.param("1E3", 1000, id="an exponent with a capital E"),
    pytest.param("1e+3", 1000, id="a signed exponent"),
    pytest.param("2e-3", Decimal("0.002"), id="a negative exponent"),
    pytest.param("1e1234", Decimal("1e1234"), id="an exponent of four digits, which the loader used to refuse"),
    pytest.param("1E", 10**18, id="E alone is exa, not an exponent"),
    pytest.param("1.", 1, id="digits and a point"),
    pytest.param(".5Ti", 1024**4 // 2, id="a point and digits"),
    pytest.param("1.G", 10**9, id="a point before the suffix"),
    pytest.param("+1Ki", 1024, id="a plus sign"),
    pytest.param("-1Ki", -1024, id="a minus sign"),
    pytest.param("00030Gi", 30 * 1024**3, id="leading zeros"),
    pytest.param("1e1.5", None, id="a fractional exponent, which the CRD used to admit"),
    pytest.param("1e.5", None, id="an exponent of a point and digits, which the CRD used to admit"),
    pytest.param("1e3Gi", None, id="an exponent and a suffix, which the loader used to read"),
    pytest.param(" 30Gi", None, id="a leading space, which the loader used to read"),
    pytest.param("30Gi ", None, id="a trailing space, which the loader used to read"),
    pytest.param("30 GB", None, id="a space and a unit Kubernetes does not know"),
    pytest.param("1K", None, id="K without i"),
    pytest.param("1e", None, id="e without digits"),
    pytest.param("1kM", None, id="two suffixes"),
    pytest.param("1.5.5Gi", None, id="two points"),
    pytest.param(".", None, id="a point alone"),
    pytest.param("-", None, id="a sign alone"),
    pytest.param("", None, id="nothing"),
    pytest.param("Gi", None, id="a suffix alone"),
]


def model_asking(storage: Any) -> dict[str, Any]:
    doc = copy.deepcopy(sample("model.yaml"))
    doc["spec"]["storage"]["pvc"]["spec"]["resources"]["requests"]["storage"] = storage
    return doc


def crd_admits(storage: Any) -> bool:
    errors = validate(MODEL, model_asking(storage))
    assert all(e.startswith("spec.storage.pvc.spec.resources.requests.storage") for e in errors), errors
    return not errors


@pytest.mark.parametrize(("text", "value"), CASES)
def test_the_crd_pattern_is_kubernetes_quantity_grammar(text: str, value: Any) -> None:
    assert bool(re.search(QUANTITY, text)) is (value is not None)


@pytest.mark.parametrize(("text", "value"), CASES)
def test_the_model_crd_admits_a_claim_size_kubernetes_takes_and_refuses_one_it_does_not(text: str, value: Any) -> None:
    assert crd_admits(text) is (value is not None)


@pytest.mark.parametrize(("text", "value"), CASES)
def test_the_loader_reads_exactly_what_the_crd_admits_by_value(text: str, value: Any) -> None:
    from arks_common.api.quantity import quantity_value  # the one reading, beside the one pattern

    read = quantity_value(text)
    assert (read is not None) is crd_admits(text)
    assert read == (None if value is None else Decimal(value))


def test_an_integer_is_a_quantity_and_a_float_or_a_boolean_is_not() -> None:
    from arks_common.api.quantity import quantity_value
    from arks_model_loader.core.storage import requested_storage

    for storage, admitted in [(30, True), (1.5, False), (True, False)]:
        read = quantity_value(requested_storage({"spec": model_asking(storage)["spec"]["storage"]["pvc"]["spec"]}))
        assert crd_admits(storage) is admitted
        assert (read is not None) is admitted, storage


def test_a_final_newline_is_refused_as_go_refuses_it() -> None:
    from arks_common.api.quantity import quantity_value

    # Python's `$` matches before a final newline, Go's (the API server's) does not
    assert quantity_value("30Gi\n") is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("1e99999999999999999999", Decimal("Infinity"), id="an exponent beyond any number is infinite"),
        pytest.param("1e-99999999999999999999", Decimal(0), id="and a negative one nothing"),
        pytest.param("1e+0000000000000000000000003", 1000, id="leading zeros of an exponent count for nothing"),
    ],
)
def test_an_absurd_exponent_is_read_without_raising(text: str, value: Any) -> None:
    from arks_common.api.quantity import quantity_value

    assert crd_admits(text)
    assert quantity_value(text) == value
