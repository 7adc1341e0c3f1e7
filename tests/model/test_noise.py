"""The stochastic forecaster: noise is an input, members are exchangeable draws, the same
noise gives the same state (whatever the batch), and the noise reaches the output."""

from __future__ import annotations

import pytest
import torch
from test_forecaster import batch, make_model, random_graph

from sowcast.errors import SowcastError


@pytest.fixture(scope="module")
def graph():
    return random_graph()


def test_different_noise_different_states_same_noise_same_state(graph):
    model = make_model(graph, noise_channels=4).eval()
    x = batch(model, 1)
    x4 = [t.expand(4, *t.shape[1:]).contiguous() for t in x]
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(model.noise_shape(4), generator=g)
    with torch.no_grad():
        out = model(*x4, noise)
        again = model(*x4, noise.clone())
        single = torch.cat([model(*x, noise[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(out, again, rtol=0, atol=0)
    torch.testing.assert_close(single, out, rtol=1e-6, atol=1e-5)   # batching does not change a member
    spread = out.std(dim=0)
    assert (spread > 0).float().mean() > 0.99                        # every point differs between members


def test_noise_is_required_and_checked(graph):
    model = make_model(graph, noise_channels=4)
    x = batch(model, 2)
    with pytest.raises(SowcastError, match="noise has shape"):
        model(*x)
    with pytest.raises(SowcastError, match="noise has shape"):
        model(*x, torch.zeros(2, model.n_mesh, 3))
    assert make_model(graph).noise_shape(2)[2] == 0 and not make_model(graph).stochastic


def test_rollout_draws_fresh_noise_each_step_and_is_reproducible(graph):
    model = make_model(graph, noise_channels=4).eval()
    x = batch(model, 1, n_steps=3)
    x2 = [t.expand(2, *t.shape[1:]).contiguous() for t in x]
    with torch.no_grad():
        torch.manual_seed(0)
        a = model.rollout(*x2, 3)
        torch.manual_seed(0)
        b = model.rollout(*x2, 3)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a[0], a[1])                            # two members, two draws


def test_gradients_reach_the_noise_embedding(graph):
    model = make_model(graph, noise_channels=4)
    x = batch(model, 2)
    model(*x, torch.randn(model.noise_shape(2))).square().mean().backward()
    assert all(p.grad is not None for p in model.network.noise_embed.parameters())
    assert model.hyperparameters()["noise_channels"] == 4


def test_grid_noise_is_one_row_per_mesh_and_grid_node_and_moves_every_point(graph):
    model = make_model(graph, noise_channels=4, grid_noise=True).eval()
    assert model.noise_shape(3) == (3, graph.n_mesh + graph.n_grid, 4)
    assert model.hyperparameters()["grid_noise"] is True
    x = batch(model, 1)
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(model.noise_shape(1), generator=g)
    grid_only = noise.clone()
    grid_only[:, graph.n_mesh:] = torch.randn(1, graph.n_grid, 4, generator=g)   # same mesh noise, new grid noise
    with torch.no_grad():
        a, b = model(*x, noise), model(*x, grid_only)
    assert ((a - b).abs() > 0).float().mean() > 0.99       # the grid rows reach every grid point
    with pytest.raises(SowcastError, match="noise has shape"):
        model(*x, torch.zeros(1, graph.n_mesh, 4))            # mesh rows alone are not enough


def test_gradients_reach_the_grid_noise_embedding(graph):
    model = make_model(graph, noise_channels=4, grid_noise=True)
    x = batch(model, 2)
    model(*x, torch.randn(model.noise_shape(2))).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.network.grid_noise_embed.parameters())
    assert make_model(graph, noise_channels=4).network.grid_noise_embed is None
