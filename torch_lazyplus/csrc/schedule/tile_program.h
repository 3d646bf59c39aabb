#pragma once
// A tile program: the bytecode of one fused region, run by a precompiled vectorized interpreter.
// The region's iteration space is rows x cols; a work item is one tile of one row, and every
// register holds that tile (or, when `uniform`, one value for the whole tile: scalars, constants,
// per-row values such as reduction results). Programs hold no sizes, so one program serves every
// shape with the same structure.
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <vector>

namespace lazyplus {

// The element type registers compute in; narrower types are converted on load and store.
enum class ComputeType : uint8_t { kFloat, kDouble, kInt64 };

enum class TileOp : uint8_t {
  // binary
  kAdd, kSub, kMul, kDiv, kMax, kMin, kPow,
  kPowScalar,  // pow.Tensor_Scalar: eager's special cases of a scalar exponent (PowKernel.cpp)
  kClampMin, kClampMax,  // eager's clamp: keep a NaN or a tied input (-0 against +0); a NaN bound gives NaN
  kEq, kNe, kLt, kLe, kGt, kGe, kAnd, kOr, kXor,
  // unary
  kNeg, kAbs, kSigmoid, kTanh, kExp, kLog, kSqrt, kRsqrt, kReciprocal, kErf, kSin, kCos,
  kLog1p, kExpm1, kFloor, kCeil, kTrunc, kGelu, kGeluTanh, kSilu, kNot, kRoundBf16, kRoundHalf,
  kBroadcast,  // a uniform value written to every element
  // ternary: dst = a ? b : c; dst = a * b + c rounded once (eager's vec::fmadd, as in add with alpha)
  kWhere, kFma,
  // row reductions (a whole row is one tile): dst is uniform
  kRowSum, kRowMax, kRowMin,
};

enum class Broadcast : uint8_t {
  kFull,    // one element per (row, col)
  kCol,     // one element per col, shared by all rows
  kRow,     // one element per row (uniform within a tile)
  kScalar,  // one element
};

struct TileInstr {
  TileOp op;
  int32_t dst, a, b = -1, c = -1;
};

struct TileInput {
  int32_t reg;
  c10::ScalarType dtype;
  Broadcast broadcast;
};

struct TileOutput {
  int32_t reg;
  c10::ScalarType dtype;
  bool per_row;  // one element per row (a reduction result)
  bool direct;   // the instruction defining `reg` writes straight into the output buffer
};

struct TileProgram {
  ComputeType compute = ComputeType::kFloat;
  bool whole_rows = false;  // has row reductions: a tile is always a whole row
  std::vector<bool> uniform;                      // per register
  std::vector<std::pair<int32_t, double>> constants;  // register, value
  std::vector<TileInput> inputs;
  std::vector<TileInstr> code;
  std::vector<TileOutput> outputs;
  int32_t row_length_reg = -1;  // a uniform register set to the number of cols at run time
  // Per register, its slot of scratch memory (a tile of elements); registers never live at once
  // share a slot (tile_slots.h).
  std::vector<int32_t> slot;
  int32_t num_slots = 0;
  int32_t num_regs() const { return static_cast<int32_t>(uniform.size()); }
};

}  // namespace lazyplus
