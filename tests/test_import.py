"""`import torch_lazyplus` works wherever a program puts it: first or after torch, with the
`torch.backends` autoload entry point on or off, and in processes started by torch.multiprocessing.
Each case runs in a fresh interpreter."""
import os
import subprocess
import sys
import textwrap

import pytest

ONE_OP = "print((torch.ones(2, device='lazyplus') + 1).cpu().tolist())"


def run_fresh(code, autoload, tmp_path):
    env = dict(os.environ, TORCH_DEVICE_BACKEND_AUTOLOAD="1" if autoload else "0")
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(code))
    out = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


@pytest.mark.parametrize("autoload", [True, False], ids=["autoload", "no-autoload"])
@pytest.mark.parametrize("imports", ["import torch_lazyplus\nimport torch", "import torch\nimport torch_lazyplus",
                                     "import torch_lazyplus, torch"])
def test_import_order(imports, autoload, tmp_path):
    assert run_fresh(f"{imports}\n{ONE_OP}\n", autoload, tmp_path) == ["[2.0, 2.0]"]


def test_autoload_registers_the_device_without_importing_the_package(tmp_path):
    assert run_fresh(f"import torch\n{ONE_OP}\n", True, tmp_path) == ["[2.0, 2.0]"]


@pytest.mark.parametrize("autoload", [True, False], ids=["autoload", "no-autoload"])
def test_spawned_workers_of_a_script_that_imports_the_backend_first(autoload, tmp_path):
    code = """\
        import torch_lazyplus
        import torch
        import torch.multiprocessing as mp


        def work(rank, queue):
            queue.put((rank, (torch.full((2,), float(rank), device="lazyplus") * 2).cpu().tolist()))


        if __name__ == "__main__":
            queue = mp.get_context("spawn").SimpleQueue()
            mp.spawn(work, args=(queue,), nprocs=2)
            print(sorted(queue.get() for _ in range(2)))
        """
    assert run_fresh(code, autoload, tmp_path) == ["[(0, [0.0, 0.0]), (1, [2.0, 2.0])]"]
