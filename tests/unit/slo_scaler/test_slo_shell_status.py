"""What the slo-scaler's shell writes to `status.autoscaling`, the decision's durable home (the deployer applies
its `desiredReplicas`): a decision the deployer has not applied yet is kept, not written back."""

from __future__ import annotations

from unit.slo_scaler.shell import BREACHED, application, shell, track


async def test_a_scale_up_the_deployer_has_not_applied_yet_is_not_written_back() -> None:
    # the deployer is away (restarting, behind on its queue): its LeaderWorkerSet stays at 2 groups. Each Hold wrote
    # the set's count back into desiredReplicas, reversing the scale-up in the field the deployer applies: the
    # status flipped 2, 3, 2, 3 with an Event per tick
    s = shell()
    s.cluster.add(application(), groups=2)
    track(s)
    desired = []
    for _ in range(8):
        await s.ticks(1, bucket=BREACHED)  # every TTFT 1 s, over the 500 ms target
        desired.append(s.cluster.autoscaling().get("desiredReplicas"))
    assert desired == [2, 2, 2, 3, 3, 3, 3, 3]
    assert [reason for _, reason, _ in s.events.recorded].count("ScaleUp") == 1
    assert "ScaleDown" not in [reason for _, reason, _ in s.events.recorded]
    assert s.cluster.autoscaling()["lastDecision"]["message"].endswith(
        "1 group(s) still starting (1 without a pod yet): hold at 3"
    )
