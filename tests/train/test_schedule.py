"""Learning-rate schedule (warm-up, cosine, floor), AdamW groups and the rollout curriculum."""

import math

import pytest
import torch

from sowcast.errors import SowcastError
from sowcast.train.schedule import RolloutCurriculum, lr_at, make_optimizer, make_scheduler


def test_warmup_is_linear_then_cosine_to_the_floor():
    lr, lr_min, warm, total = 1e-3, 1e-5, 10, 110
    assert lr_at(0, lr, warm, total, lr_min) == pytest.approx(1e-4)
    assert lr_at(4, lr, warm, total, lr_min) == pytest.approx(5e-4)
    assert lr_at(9, lr, warm, total, lr_min) == pytest.approx(1e-3)
    assert lr_at(10, lr, warm, total, lr_min) == pytest.approx(1e-3)       # peak, cosine starts
    mid = lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert lr_at(60, lr, warm, total, lr_min) == pytest.approx(mid)          # half-way down
    assert lr_at(110, lr, warm, total, lr_min) == pytest.approx(lr_min)
    assert lr_at(500, lr, warm, total, lr_min) == pytest.approx(lr_min)      # floor beyond the end
    values = [lr_at(s, lr, warm, total, lr_min) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_no_warmup_starts_at_the_peak():
    assert lr_at(0, 2e-3, 0, 100, 0.0) == pytest.approx(2e-3)
    assert lr_at(100, 2e-3, 0, 100, 0.0) == pytest.approx(0.0)


def test_scheduler_follows_the_formula_and_decay_skips_vectors():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = make_optimizer(model, lr=1e-3, weight_decay=0.1)
    decays = sorted(g["weight_decay"] for g in opt.param_groups)
    assert decays == [0.0, 0.1]
    assert sum(p.ndim >= 2 for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]) == 1
    sched = make_scheduler(opt, 1e-3, 5, 50, 1e-5)
    seen = []
    for _ in range(50):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([lr_at(s, 1e-3, 5, 50, 1e-5) for s in range(50)])


def test_bad_schedule_settings_are_user_errors():
    opt = make_optimizer(torch.nn.Linear(2, 2), 1e-3, 0.0)
    with pytest.raises(SowcastError):
        make_scheduler(opt, 1e-3, 5, 50, 1e-2)  # floor above the peak
    with pytest.raises(SowcastError):
        make_scheduler(opt, 1e-3, -1, 50, 0.0)


def test_curriculum_steps():
    c = RolloutCurriculum([[0, 1], [300, 2], [600, 4]])
    assert [c(s) for s in (0, 299, 300, 599, 600, 10_000)] == [1, 1, 2, 2, 4, 4]
    assert c.max_steps == 4
    assert RolloutCurriculum([[100, 3], [0, 1]])(150) == 3  # order of the pairs does not matter
    assert RolloutCurriculum(2)(0) == 2 and RolloutCurriculum(2).max_steps == 2


@pytest.mark.parametrize("bad", [[], [[5, 1]], [[0, 0]], [[0, 1], [0, 2]], "x", [[0]]])
def test_bad_curricula_are_user_errors(bad):
    with pytest.raises(SowcastError):
        RolloutCurriculum(bad)
