"""Partition names and subjects: the stream's mapping, each partition's durable and filters, stored subjects."""

from __future__ import annotations

import pytest

from arks_common.events.contract import (
    DEPLOYER_PLANS,
    OBJECTS,
    OBJECTS_STREAM,
    PLANNER_OBJECTS,
    PLANS,
    PLANS_STREAM,
    SLO_SCALER_OBJECTS,
)
from arks_common.events.partitions import (
    check_partitions,
    instances,
    partition_filter,
    partitions_of_transform,
    subject_transform,
)


def test_plans_map_to_a_partition_of_namespace_and_name_first() -> None:
    assert subject_transform(PLANS, 8) == (
        "arks.plan.*.*",
        "arks.plan.{{partition(8,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}",
    )


def test_objects_keep_their_kind_first_so_kind_filters_still_match() -> None:
    assert subject_transform(OBJECTS, 4) == (
        "arks.object.*.*.*",
        "arks.object.{{wildcard(1)}}.{{partition(4,2,3)}}.{{wildcard(2)}}.{{wildcard(3)}}",
    )
    assert partitions_of_transform(OBJECTS_STREAM, subject_transform(OBJECTS, 4)[1]) == 4  # type: ignore[index]
    assert partitions_of_transform(PLANS_STREAM, None) is None


def test_each_partition_has_its_own_durable_narrowed_to_it() -> None:
    three = instances(PLANNER_OBJECTS, 8)[3]
    assert three.durable == "planner-objects-3"
    assert "arks.object.application.3.>" in three.filter_subjects
    assert instances(DEPLOYER_PLANS, 8)[0].filter_subjects == ("arks.plan.0.>",)
    assert len(instances(DEPLOYER_PLANS, 5)) == 5


def test_the_slo_scaler_keeps_one_shared_durable_with_its_filters() -> None:
    (shared,) = instances(SLO_SCALER_OBJECTS, 8)
    assert shared.durable == "slo-scaler-objects"
    assert shared.filter_subjects == SLO_SCALER_OBJECTS.filter_subjects


@pytest.mark.parametrize("value", [0, 17, -1])
def test_a_partition_count_out_of_range_is_refused_naming_the_setting(value: int) -> None:
    with pytest.raises(ValueError, match="ARKS_BUS_PARTITIONS must be between 1 and 16"):
        check_partitions(value)


def test_a_filter_that_cannot_be_narrowed_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be narrowed"):
        partition_filter(PLANS, "arks.plan.default.>", 1)


def test_stored_subjects_parse_to_the_published_ones() -> None:
    assert PLANS.stored("ns", "app") == "arks.plan.*.ns.app"
    assert OBJECTS.stored("application", "ns", "app") == "arks.object.application.*.ns.app"
    assert PLANS.parse("arks.plan.5.ns.app") == {"namespace": "ns", "name": "app"}
    assert PLANS.published("arks.plan.5.ns.app") == "arks.plan.ns.app"
    assert OBJECTS.published("arks.object.leaderworkerset.0.ns.app") == "arks.object.leaderworkerset.ns.app"
    assert PLANS.published("arks.plan.ns.app") == "arks.plan.ns.app"  # as stored before partitions
    with pytest.raises(ValueError, match="has no partition"):
        PLANS.parse("arks.plan.x.ns.app")
