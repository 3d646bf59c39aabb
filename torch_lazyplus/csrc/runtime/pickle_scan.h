#pragma once
// A walk over a saved graph's pickle before torch's unpickler reads it. torch::jit::Unpickler grows its
// memo to any index a PUT names: one crafted 4-byte index (a flipped REDUCE byte reads as LONG_BINPUT)
// made it fill 778 million entries, 12 GB and 43 s before it refused the payload, and a larger one can
// exhaust the host. torch's Pickler numbers its memo 0, 1, 2, ...; anything else is refused here.
#include <cstddef>
#include <string>

namespace lazyplus {

// Empty when `pickle` is a sequence of the opcodes torch's Pickler writes, each argument inside the
// bytes, its memo indices numbered in order and ending at STOP; else what is wrong.
std::string PickleProblem(const char* pickle, size_t size);

}  // namespace lazyplus
