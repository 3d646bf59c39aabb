"""DistributedDataParallel and FSDP on lazyplus: `torchrun` runs examples/train_ddp.py as a user would,
and its run matches one process training on the whole batch, with one graph per step per rank. DDP's
features (buckets, no_sync accumulation, find_unused_parameters, buffers) match CPU gloo DDP."""
import json
import sys

import pytest
import torch

from processes import EXAMPLES, run_ranks, torchrun

STEPS = 12


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The whole batch in one process: train_gpt.py's CPU losses, and a 1-process CPU run's parameters."""
    sys.path.insert(0, str(EXAMPLES))
    import train_gpt
    out = tmp_path_factory.mktemp("one_process")
    torchrun(EXAMPLES / "train_ddp.py", 1, "--device", "cpu", "--steps", STEPS, "--save", out / "params.pt")
    return train_gpt.train("cpu", STEPS), torch.load(out / "params.pt")


@pytest.mark.parametrize("nproc,sharding", [(2, "ddp"), (4, "ddp"), (2, "fsdp")])
def test_n_processes_match_one_process_on_the_whole_batch(nproc, sharding, one_process, tmp_path):
    losses, params = one_process
    torchrun(EXAMPLES / "train_ddp.py", nproc, "--steps", STEPS, "--json", tmp_path / "run.json",
             "--save", tmp_path / "params.pt", *(["--fsdp"] if sharding == "fsdp" else []))
    run = json.loads((tmp_path / "run.json").read_text())
    assert max(abs(a - b) / abs(b) for a, b in zip(run["losses"], losses)) < 1e-5
    trained = torch.load(tmp_path / "params.pt")
    for name, value in params.items():
        torch.testing.assert_close(trained[name], value, rtol=1e-5, atol=1e-5, msg=name)
    assert run["graphs_per_step"] == 1.0
    assert run["compiles_per_step"] == 0.0


def test_ddp_features_match_cpu_gloo_ddp(tmp_path):
    for rank, result in enumerate(run_ranks("ddp_features.py", 2, tmp_path)):
        assert len(result) == 4
        for config, r in result.items():
            assert r["loss_difference"] < 1e-6, (rank, config)
            assert r["state_difference"] < 1e-6, (rank, config)
        assert result["find_unused=False accumulate=1"]["graphs_per_step"][2:] == [1, 1]
