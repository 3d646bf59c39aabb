#pragma once
// A vector g++ cannot contract into a multiply-add with the add that takes it, for the per-ISA files
// (after their CPU_CAPABILITY_* macro): where eager's build rounds a product before adding it, lazyplus
// must too, and g++ contracts `a * b + c` wherever the ISA has multiply-adds.
#include <type_traits>

namespace lazyplus {
namespace CPU_CAPABILITY {  // each ISA's build its own

template <typename V>
V Uncontracted(V v) {
#if defined(CPU_CAPABILITY_AVX512)
  std::conditional_t<std::is_same_v<typename V::value_type, double>, __m512d, __m512> raw = v;
  asm("" : "+v"(raw));
  return raw;
#elif defined(CPU_CAPABILITY_AVX2)
  std::conditional_t<std::is_same_v<typename V::value_type, double>, __m256d, __m256> raw = v;
  asm("" : "+x"(raw));
  return raw;
#else
  return v;  // no multiply-adds on the default ISA
#endif
}

inline float Uncontracted(float v) {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  asm("" : "+x"(v));
#endif
  return v;
}

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
