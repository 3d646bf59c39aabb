"""Faults in distributed runs on lazyplus: mistakes raise gloo's errors at the call, and a peer that died
or went silent fails the others within the group's timeout instead of hanging them."""
import pytest

from processes import run_ranks


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


@pytest.mark.parametrize("peer", ["dies", "silent"])
def test_a_lost_peer_fails_the_read_within_the_timeout(peer, tmp_path):
    (result,) = run_ranks("dead_rank.py", 2, tmp_path, peer, limit=60, reporting=[0])
    assert result["error"] is not None
    assert result["seconds"] < result["timeout"] + 2
