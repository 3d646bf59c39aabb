#pragma once
// A tile program: the bytecode of one fused region, run by a precompiled vectorized interpreter.
// The region's iteration space is rows x cols; a work item is one tile: part of one row, or several
// whole rows when rows are short. A register holds as much of a tile as its extent says: every
// element, one value per row (reduction results), or one value (scalars, constants). Programs hold
// no sizes, so one program serves every shape with the same structure.
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
  kGeluBackward, kGeluTanhBackward,  // dst = gelu's gradient at b times a (eager's vectorized formulas)
  // unary
  kNeg, kAbs, kSigmoid, kTanh, kExp, kLog, kSqrt, kRsqrt, kReciprocal, kErf, kSin, kCos,
  kLog1p, kExpm1, kFloor, kCeil, kTrunc, kGelu, kGeluTanh, kSilu, kNot, kRoundBf16, kRoundHalf,
  kBroadcast,  // a value of a narrower extent written to every element
  // ternary: dst = a ? b : c; dst = a * b + c rounded once (eager's vec::fmadd, as in add with alpha)
  kWhere, kFma,
  // row reductions (tiles hold whole rows): dst holds one value per row
  kRowSum, kRowMax, kRowMin,
};

// How many elements of a tile a register holds (an input's: how it is broadcast to the region).
enum class Extent : uint8_t {
  kTile,  // every element
  kCol,   // one per col, shared by the tile's rows (only inputs broadcast over rows)
  kRow,   // one per row: reduction results, per-row inputs and what is computed from them
  kOne,   // one for the whole tile: constants, scalars, the row length
};

inline bool Uniform(Extent e) { return e == Extent::kRow || e == Extent::kOne; }  // one value per row

struct TileInstr {
  TileOp op;
  int32_t dst, a, b = -1, c = -1;
};

struct TileInput {
  int32_t reg;
  c10::ScalarType dtype;
};

struct TileOutput {
  int32_t reg;
  c10::ScalarType dtype;
  bool per_row;  // one element per row (a reduction result)
  bool direct;   // the instruction defining `reg` writes straight into the output buffer
};

struct TileProgram {
  ComputeType compute = ComputeType::kFloat;
  bool whole_rows = false;  // has row reductions: tiles hold whole rows
  std::vector<Extent> extent;                     // per register
  std::vector<std::pair<int32_t, double>> constants;  // register, value
  std::vector<TileInput> inputs;
  std::vector<TileInstr> code;
  std::vector<TileOutput> outputs;
  int32_t row_length_reg = -1;  // a register of extent kOne set to the number of cols at run time
  // Per register, its slot of scratch memory (a tile of elements), or -1 for a register of one value
  // (held apart: tile_slots.h); registers never live at once share a slot.
  std::vector<int32_t> slot;
  int32_t num_slots = 0;
  int32_t num_regs() const { return static_cast<int32_t>(extent.size()); }
};

}  // namespace lazyplus
