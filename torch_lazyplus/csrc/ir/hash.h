#pragma once
// Structural hashing of IR nodes and their attributes.
#include <c10/core/MemoryFormat.h>
#include <c10/core/ScalarType.h>

#include <array>
#include <c10/util/ArrayRef.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lazyplus {

using hash_t = uint64_t;

inline hash_t HashCombine(hash_t seed, hash_t v) {
  return seed ^ (v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

inline hash_t Hash(int64_t v) { return static_cast<hash_t>(v) * 0xff51afd7ed558ccdULL; }
inline hash_t Hash(bool v) { return Hash(static_cast<int64_t>(v) + 7); }
inline hash_t Hash(double v) {
  int64_t bits;
  static_assert(sizeof(bits) == sizeof(v));
  __builtin_memcpy(&bits, &v, sizeof(v));
  return Hash(bits);
}
inline hash_t Hash(c10::ScalarType v) { return Hash(static_cast<int64_t>(v) + 1000); }
inline hash_t Hash(c10::MemoryFormat v) { return Hash(static_cast<int64_t>(v) + 2000); }
inline hash_t Hash(const std::string& v) { return std::hash<std::string>()(v); }
inline hash_t Hash(const char* v) { return Hash(std::string(v)); }
template <typename T>
hash_t Hash(const std::optional<T>& v);
template <typename T>
hash_t Hash(c10::ArrayRef<T> v);
template <typename T>
hash_t Hash(const std::vector<T>& v);
template <typename T, size_t N>
hash_t Hash(const std::array<T, N>& v) {
  hash_t h = Hash(static_cast<int64_t>(N));
  for (const auto& x : v) h = HashCombine(h, Hash(x));
  return h;
}

template <typename T>
hash_t Hash(const std::optional<T>& v) {
  return v.has_value() ? HashCombine(Hash(*v), 0x51ed27) : 0x2545f491;
}
template <typename T>
hash_t Hash(const std::vector<T>& v) {
  hash_t h = Hash(static_cast<int64_t>(v.size()));
  for (const auto& x : v) h = HashCombine(h, Hash(x));
  return h;
}
template <typename T>
hash_t Hash(c10::ArrayRef<T> v) {
  hash_t h = Hash(static_cast<int64_t>(v.size()));
  for (const auto& x : v) h = HashCombine(h, Hash(x));
  return h;
}
// Combines the hashes of all arguments.
template <typename... Ts>
hash_t HashAll(const Ts&... vs) {
  hash_t h = 0x84222325;
  ((h = HashCombine(h, Hash(vs))), ...);
  return h;
}

}  // namespace lazyplus
