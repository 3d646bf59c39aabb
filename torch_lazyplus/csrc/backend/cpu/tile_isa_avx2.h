// The feature macros of an AVX2 target. g++ does not define them for `#pragma GCC target`, and
// at::vec and sleef.h test them; the per-ISA files of the AVX2 and AVX-512
// targets (tile_interpreter_*, cross_entropy_rows_*; AVX-512 through tile_isa_avx512.h) include this
// after the pragma.
// (Redefining a macro the compiler already defines, with the same value, is allowed.)
#define __AVX__ 1
#define __AVX2__ 1
#define __FMA__ 1
#define __F16C__ 1
#define __BMI__ 1
#define __BMI2__ 1
#define __LZCNT__ 1
#define __POPCNT__ 1
