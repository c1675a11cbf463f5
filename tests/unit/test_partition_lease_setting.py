"""`ARKS_PARTITION_LEASE_SECONDS`: from 5 s to an hour. Below, a renewal (every third of the lease) leaves less than
the consumers' stop-ahead of the hold (four fifths), so they stop and start again every round; above (or `inf`), a
dead replica's partitions wait that long; `nan` is no duration. Each is refused at start, naming the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from arks_common.settings import CommonSettings


@pytest.mark.parametrize("value", ["5", "15", "60", "3600"])
def test_a_lease_in_range_is_taken(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ARKS_PARTITION_LEASE_SECONDS", value)
    assert CommonSettings().partition_lease_seconds == float(value)


@pytest.mark.parametrize("value", ["3", "4.9", "0", "-15", "3601", "inf", "nan"])
def test_a_lease_out_of_range_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ARKS_PARTITION_LEASE_SECONDS", value)
    with pytest.raises(
        ValidationError, match="ARKS_PARTITION_LEASE_SECONDS must be a number of seconds from 5 to 3600"
    ):
        CommonSettings()
