"""Faults in distributed runs on lazyplus: mistakes raise gloo's errors at the call, a peer that died
or went silent fails the others within the group's timeout instead of hanging them, and a checkpoint
written by lazyplus ranks loads elsewhere (on the CPU, on another number of ranks)."""
import sys

import pytest
import torch
import torch.distributed.checkpoint as dcp

from processes import EXAMPLES, run_ranks


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory):
    return run_ranks("errors.py", 2, tmp_path_factory.mktemp("errors"))


def test_a_mistake_raises_what_gloo_raises_for_cpu_tensors(mistakes):
    for result in mistakes:
        assert len(result["errors"]) == 8
        for name, (lazyplus, cpu) in result["errors"].items():
            assert cpu is not None, name
            assert lazyplus == cpu, name


def test_a_mistake_raises_at_the_call_and_records_nothing(mistakes):
    for result in mistakes:
        assert all(result["nothing_recorded"].values())
        assert result["mixed_devices"].startswith("RuntimeError: ProcessGroupGloo::allgather: invalid tensor type")
        assert result["unchanged"] == [0.0, 1.0, 2.0, 3.0]


def test_ranks_that_disagree_on_shapes_get_pytorchs_mismatch_error_under_its_debug_mode(tmp_path):
    ranks = run_ranks("mismatched_ranks.py", 2, tmp_path, env={"TORCH_DISTRIBUTED_DEBUG": "DETAIL"})
    for rank, result in enumerate(ranks):
        assert "Detected mismatch between collectives on ranks" in result["cpu"]
        assert result["lazyplus"] == result["cpu"], rank


@pytest.mark.parametrize("peer", ["dies", "silent"])
def test_a_lost_peer_fails_the_read_within_the_timeout(peer, tmp_path):
    (result,) = run_ranks("dead_rank.py", 2, tmp_path, peer, limit=60, reporting=[0])
    assert result["error"] is not None
    assert result["seconds"] < result["timeout"] + 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("checkpoint")
    assert [r["saved"] for r in run_ranks("checkpoint.py", 2, directory, "save", directory)] == [28, 28]
    return directory


def test_a_checkpoint_of_fsdp_lazyplus_ranks_loads_in_one_cpu_process(checkpoint):
    sys.path.insert(0, str(EXAMPLES))
    from train_gpt import GPT
    state = GPT(30, 32).state_dict()
    dcp.load(state, checkpoint_id=checkpoint / "checkpoint")  # no process group: one process
    reference = torch.load(checkpoint / "reference.pt")
    for name, value in reference.items():
        assert torch.equal(state[name], value), name


def test_a_checkpoint_of_two_lazyplus_ranks_loads_on_three(checkpoint):
    for result in run_ranks("checkpoint.py", 3, checkpoint, "load", checkpoint):
        assert len(result["equal"]) == 28 and all(result["equal"].values())
