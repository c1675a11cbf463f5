"""bursts: the floor recent bursts leave."""

from __future__ import annotations

from arks_slo_scaler.core.bursts import BurstMemory, burst_floor
from arks_slo_scaler.core.decide import ScalerConfig


def test_a_burst_whose_groups_served_nothing_sizes_its_floor_at_the_capacity() -> None:
    """Garbled or stuck metrics can show a burst breaching with 0 req/s served: that rate says nothing of a burst's
    weight, and dividing by it failed every later decision of the application while the burst was remembered."""
    memory = BurstMemory(starts=(0.0, 300.0), demand=((310.0, 100.0),), served_rates=((310.0, 0.0),))
    floor = burst_floor(memory, 320.0, 20.0, 0.8, memory_seconds=ScalerConfig().burst_memory_seconds)
    assert floor is not None
    assert floor.groups == 7  # ceil(100 / (20 * 0.8)), the capacity's count
    assert "needed 7 groups" in floor.reason
