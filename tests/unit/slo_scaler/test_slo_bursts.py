"""bursts: the floor recent bursts leave."""

from __future__ import annotations

from arks_slo_scaler.core.bursts import BurstMemory, burst_floor, track_bursts
from arks_slo_scaler.core.decide import ScalerConfig


def test_a_burst_whose_groups_served_nothing_sizes_its_floor_at_the_capacity() -> None:
    """Garbled or stuck metrics can show a burst breaching with 0 req/s served: that rate says nothing of a burst's
    weight, and dividing by it failed every later decision of the application while the burst was remembered."""
    memory = BurstMemory(starts=(0.0, 300.0), demand=((310.0, 100.0),), served_rates=((310.0, 0.0),))
    floor = burst_floor(memory, 320.0, 20.0, 0.8, memory_seconds=ScalerConfig().burst_memory_seconds)
    assert floor is not None
    assert floor.groups == 7  # ceil(100 / (20 * 0.8)), the capacity's count
    assert "needed 7 groups" in floor.reason


def _traffic(memory: BurstMemory, now: float) -> BurstMemory:
    """One calm observation: steady traffic, no burst, nothing over target."""
    return track_bursts(
        memory,
        now,
        demand=10.0,
        expected=10.0,
        idle_window=False,
        steady=True,
        measured=True,
        pressure=False,
        rate_per_group=5.0,
        over_target_lasting=False,
        requests=300.0,
        deviation=0.2,
        memory_seconds=ScalerConfig().burst_memory_seconds,
    )


def test_the_calm_before_a_first_burst_is_counted_from_its_first_sample_also_at_time_zero() -> None:
    """A clock that starts at 0 (the simulator's) measured the calm from the second sample on: 0 read as unset."""
    memory = _traffic(_traffic(BurstMemory(), 0.0), 15.0)
    assert memory.calm_since == 0.0
    assert _traffic(memory, 30.0).calm_since == 0.0
