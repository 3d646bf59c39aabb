// The tile interpreter built for avx2 (see tile_interpreter_impl.h). The target pragma enables the
// instructions; g++ does not define the matching feature macros for it, which at::vec and sleef.h test,
// so they are defined here. Only the dispatcher in tile_interpreter.cpp calls into this file.
#pragma GCC target("avx2,avx,fma,f16c,bmi,bmi2,lzcnt,popcnt")
#ifndef __AVX__
#define __AVX__ 1
#endif
#ifndef __AVX2__
#define __AVX2__ 1
#endif
#ifndef __FMA__
#define __FMA__ 1
#endif
#ifndef __F16C__
#define __F16C__ 1
#endif
#ifndef __BMI__
#define __BMI__ 1
#endif
#ifndef __BMI2__
#define __BMI2__ 1
#endif
#ifndef __LZCNT__
#define __LZCNT__ 1
#endif
#ifndef __POPCNT__
#define __POPCNT__ 1
#endif
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2
#include "lowering/tile_interpreter_impl.h"
