"""The core library works without Python: tests/cpp/core_test.cpp, compiled here against libtorch and
liblazyplus.so (no Python headers, no libpython), records ops on lazyplus through ATen and checks them."""
import os
import pathlib
import subprocess
import sysconfig

import torch.utils.cpp_extension as cpp_extension

import torch_lazyplus

SOURCE = pathlib.Path(__file__).resolve().parent / "cpp" / "core_test.cpp"


def build(binary):
    core = pathlib.Path(torch_lazyplus.library_path())
    torch_lib = cpp_extension.library_paths()[0]
    includes = [f"-I{p}" for p in cpp_extension.include_paths()]
    # --no-as-needed: main calls nothing of liblazyplus.so by name; loading it registers the device.
    link = [f"-L{torch_lib}", f"-Wl,-rpath,{torch_lib}", f"-Wl,-rpath,{core.parent}", "-Wl,--no-as-needed",
            str(core), "-ltorch_cpu", "-lc10", "-Wl,--as-needed"]
    subprocess.run([os.environ.get("CXX", "c++"), "-std=c++20", "-O0", "-g0", str(SOURCE), "-o", str(binary),
                    *includes, *link], check=True, capture_output=True, text=True)


def test_a_cpp_program_records_syncs_and_checks_lazyplus_ops_with_the_core_library_alone(tmp_path):
    binary = tmp_path / "core_test"
    build(binary)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    run = subprocess.run([str(binary)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("ok: ") == 9, run.stdout
    needed = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    assert "liblazyplus.so" in needed and sysconfig.get_config_var("LDLIBRARY") not in needed
