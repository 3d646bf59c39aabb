"""torch.distributed collectives on lazyplus tensors, in real processes on loopback: the lazyplus c10d
backend gives what gloo gives for the same calls on CPU tensors, records the collectives that can wait for
the next sync, and runs the others at the call after everything recorded before them."""
import pytest

from processes import run_ranks


@pytest.fixture(scope="module", params=[2, 3], ids=lambda n: f"{n}_processes")
def ranks(request, tmp_path_factory):
    return run_ranks("collectives.py", request.param, tmp_path_factory.mktemp("collectives"))


def test_every_collective_gives_what_gloo_gives_for_cpu_tensors(ranks):
    for rank, result in enumerate(ranks):
        assert len(result["cases"]) == 31
        assert [name for name, same in result["cases"].items() if not same] == [], f"rank {rank}"


def test_all_reduce_is_recorded_and_runs_at_the_next_sync(ranks):
    for result in ranks:
        recorded = result["recorded"]
        assert recorded["syncs_before_read"] == 0
        assert recorded["recorded"] == 2
        assert recorded["value"] == recorded["expected"]


def test_a_collective_whose_result_is_dropped_still_runs_in_call_order(ranks):
    world = len(ranks)
    assert ranks[1]["dropped"] == [2.0 * world]
    assert ranks[0]["dropped"] == [2.0 * world, float(world)]


def test_send_and_recv_run_at_the_call_after_a_sync_the_explainer_names(ranks):
    assert ranks[0]["sync_causes"] == ["collective"]  # the send: its tensor was pending
    assert ranks[1]["sync_causes"] == ["collective"]  # the recv: the same
