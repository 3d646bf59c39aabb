"""Real processes on loopback for the distributed tests. Every run is bounded: at its limit, every
process it started (and their children) is killed, so a hung collective fails a test instead of CI."""
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

WORKERS = Path(__file__).resolve().parent / "workers"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(EXAMPLES), str(WORKERS)]))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _kill(procs):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    for p in procs:
        p.wait()


def run_ranks(worker, world, out_dir, *args, limit=120, reporting=None, env=None):
    """Starts `world` processes of workers/`worker` with torchrun's environment (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT), each writing `out_dir`/rank<r>.json; returns those of the `reporting`
    ranks (default: all), after asserting they exited cleanly and every process ended within `limit`
    seconds. `env`: more environment variables."""
    reporting = range(world) if reporting is None else reporting
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, str(WORKERS / worker), str(out_dir), *map(str, args)],
                              env=_environment(RANK=r, LOCAL_RANK=r, WORLD_SIZE=world, MASTER_ADDR="127.0.0.1",
                                               MASTER_PORT=port, **(env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
             for r in range(world)]
    try:
        outputs = [p.communicate(timeout=limit)[0] for p in procs]
    except subprocess.TimeoutExpired:
        _kill(procs)
        raise AssertionError(f"{worker} on {world} processes still ran after {limit} s: killed")
    for r in reporting:
        assert procs[r].returncode == 0, f"{worker} rank {r} exited with {procs[r].returncode}:\n{outputs[r][-4000:]}"
    return [json.loads((Path(out_dir) / f"rank{r}.json").read_text()) for r in reporting]


def torchrun(script, nproc, *args, limit=240):
    """`torchrun --standalone --nproc-per-node nproc script args` as a user runs it; returns its output."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", str(script),
           *map(str, args)]
    proc = subprocess.Popen(cmd, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output = proc.communicate(timeout=limit)[0]
    except subprocess.TimeoutExpired:
        _kill([proc])
        raise AssertionError(f"torchrun {script} on {nproc} processes still ran after {limit} s: killed")
    assert proc.returncode == 0, f"torchrun {script} exited with {proc.returncode}:\n{output[-4000:]}"
    return output
