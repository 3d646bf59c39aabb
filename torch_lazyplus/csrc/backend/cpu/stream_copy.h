#pragma once
// Non-temporal copies for the per-ISA files (after their CPU_CAPABILITY_* macro): a large output is not
// read again soon, and streaming it skips the read-for-ownership of every destination line (a third of
// the memory traffic of a copy).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lazyplus {
namespace CPU_CAPABILITY {  // each ISA's build its own

constexpr int64_t kStreamBytes = 32 << 20;  // outputs this large bypass the caches (larger than L3)

inline void StreamCopy(void* dst, const void* src, size_t bytes) {
  auto* d = static_cast<char*>(dst);
  auto* s = static_cast<const char*>(src);
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  constexpr size_t kLine = 64;
  size_t head = std::min(bytes, (kLine - reinterpret_cast<uintptr_t>(d) % kLine) % kLine);
  std::memcpy(d, s, head);
  size_t i = head;
  for (; i + kLine <= bytes; i += kLine) {
#if defined(CPU_CAPABILITY_AVX512)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(d + i), _mm512_loadu_si512(s + i));
#else
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i + 32),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 32)));
#endif
  }
  std::memcpy(d + i, s + i, bytes - i);
#else
  std::memcpy(d, s, bytes);
#endif
}

// Orders a thread's streamed stores before what it does next (another thread reading them).
inline void StreamFence() {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  _mm_sfence();
#endif
}

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
