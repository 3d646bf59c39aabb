// The tile interpreter, compiled once per instruction set (tile_interpreter_<isa>.cpp define
// CPU_CAPABILITY and the matching target, then include this file). Each instruction runs over a whole
// tile with at::vec::Vectorized, so the interpretive overhead is paid once per tile, not per element,
// and intermediates stay in per-thread scratch that fits in L1/L2.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/SmallVector.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <tuple>
#include <type_traits>

#include "backend/cpu/stream_copy.h"
#include "backend/cpu/uncontracted.h"
#include "schedule/tile_program.h"

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

// Elements per tile (longer rows are whole-row tiles in a region with reductions). Shorter rows are
// grouped, whole, into one tile: an instruction's interpretive cost is paid once per tile, and one
// tile per 64-col row made an add + layer_norm region over 4096 rows cost 800 us (eager: 250).
constexpr int64_t kTile = 1024;
// Elements per parallel task, at least. A region runs several ops per element, so it splits
// smaller than eager's 32768 (TensorIterator's grain): the demo's add + layer_norm regions over
// 512 x 64 took 155 us on one thread of the 2-core EPYC, 115-123 us on two.
constexpr int64_t kGrainElements = 8192;
template <typename T>
class Interpreter {
  using V = at::vec::Vectorized<T>;
  static constexpr bool kFloating = std::is_floating_point_v<T>;

 public:
  Interpreter(const TileProgram& p, int64_t rows, int64_t cols, c10::ArrayRef<const void*> in,
              c10::ArrayRef<void*> out)
      : p_(p), rows_(rows), cols_(cols), in_(in), out_(out),
        width_(p.whole_rows ? cols : std::min(cols, kTile)),
        rows_per_tile_(cols > 0 && cols < kTile ? std::min(kTile / cols, std::max<int64_t>(rows, 1)) : 1),
        slot_size_(std::max<int64_t>(width_ * rows_per_tile_, 1)),
        stream_(rows * cols * static_cast<int64_t>(sizeof(T)) >= kStreamBytes) {
    // An output written over one of the inputs (donated memory) is stored only after the whole
    // tile is computed: an instruction writing it directly could clobber what later ones read.
    // (Inputs sorted, not searched per output: an AdamW region over 200 parameters has 600 outputs.)
    c10::SmallVector<const void*, 16> inputs(in.begin(), in.end());
    std::sort(inputs.begin(), inputs.end());
    for (size_t i = 0; i < p.outputs.size(); ++i) {
      bool over_input = std::binary_search(inputs.begin(), inputs.end(), static_cast<const void*>(out[i]));
      direct_.push_back(p.outputs[i].direct && !stream_ && !over_input);
    }
  }

  void Run() {
    if (rows_ * cols_ == 0) return;
    int64_t tiles_per_row = (cols_ + width_ - 1) / width_;
    int64_t row_groups = (rows_ + rows_per_tile_ - 1) / rows_per_tile_;
    int64_t grain = std::max<int64_t>(1, kGrainElements / slot_size_);
    auto tile_of = [&](int64_t item) {
      int64_t row = item / tiles_per_row * rows_per_tile_, col = (item % tiles_per_row) * width_;
      return Tile{row, std::min(rows_per_tile_, rows_ - row), col, std::min(width_, cols_ - col)};
    };
    at::parallel_for(0, row_groups * tiles_per_row, grain, [&](int64_t begin, int64_t end) {
      // Uninitialized: every register is written before it is read. One-value registers have no
      // slot (tile_slots.h): each holds its value in `ones`.
      Scratch& s = ThreadScratch();
      const int64_t tiles = p_.num_slots * slot_size_;
      s.values.resize(std::max(s.values.size(), static_cast<size_t>(tiles + p_.num_regs())));
      T* ones = s.values.data() + tiles;
      std::vector<T*>& home = s.home;
      home.resize(p_.num_regs());
      for (int32_t r = 0; r < p_.num_regs(); ++r) home[r] = Once(r) ? ones + r : s.values.data() + p_.slot[r] * slot_size_;
      std::vector<T*>& reg = s.reg;
      reg = home;
      for (const auto& [r, value] : p_.constants) reg[r][0] = static_cast<T>(value);
      if (p_.row_length_reg >= 0) reg[p_.row_length_reg][0] = static_cast<T>(cols_);
      const Tile first = tile_of(begin);
      for (size_t i = 0; i < p_.inputs.size(); ++i) {
        if (Once(p_.inputs[i].reg)) Load(p_.inputs[i], in_[i], first, home, reg);
      }
      // One-value instructions read one-value registers only: they run once per task, not per tile
      // (the demo's AdamW computes its bias corrections, a pow each, in the regions of the weights).
      for (const auto& instr : p_.code) {
        if (Once(instr.dst)) Exec(instr, first, reg);
      }
      for (int64_t item = begin; item < end; ++item) RunTile(tile_of(item), home, reg);
      if (stream_) StreamFence();
    });
  }

 private:
  // A thread's registers, kept from one region to the next: no allocation per task, and memory the
  // last region left in this core's cache. It keeps the size of the largest program run on the thread
  // (at most a few MiB: 16384-col rows, tens of registers).
  struct Scratch {
    std::vector<T> values;
    std::vector<T*> home, reg;
  };
  static Scratch& ThreadScratch() {
    static thread_local Scratch scratch;
    return scratch;
  }

  // `rows` rows of `width` elements from (row, col); registers hold them row after row.
  struct Tile {
    int64_t row, rows, col, width;
    int64_t numel() const { return rows * width; }
  };

  bool Once(int32_t reg) const { return p_.extent[reg] == Extent::kOne; }

  void RunTile(const Tile& t, const std::vector<T*>& home, std::vector<T*>& reg) {
    for (size_t i = 0; i < p_.inputs.size(); ++i) {
      if (!Once(p_.inputs[i].reg)) Load(p_.inputs[i], in_[i], t, home, reg);
    }
    for (size_t i = 0; i < p_.outputs.size(); ++i) {
      if (direct_[i]) reg[p_.outputs[i].reg] = static_cast<T*>(out_[i]) + t.row * cols_ + t.col;
    }
    for (const auto& instr : p_.code) {
      if (!Once(instr.dst)) Exec(instr, t, reg);
    }
    for (size_t i = 0; i < p_.outputs.size(); ++i) {
      if (!direct_[i]) Store(p_.outputs[i], out_[i], t, reg[p_.outputs[i].reg]);
    }
  }

  void Load(const TileInput& in, const void* data, const Tile& t, const std::vector<T*>& homes, std::vector<T*>& reg) {
    T* home = homes[in.reg];
    int64_t offset = 0, count = 1;
    switch (p_.extent[in.reg]) {
      case Extent::kTile: offset = t.row * cols_ + t.col, count = t.numel(); break;
      case Extent::kCol: offset = t.col, count = t.width; break;
      case Extent::kRow: offset = t.row, count = t.rows; break;
      case Extent::kOne: break;
    }
    if (in.dtype == c10::CppTypeToScalarType<T>::value) {
      reg[in.reg] = const_cast<T*>(static_cast<const T*>(data)) + offset;  // read in place
    } else {
      reg[in.reg] = home;
      Convert(home, count, in.dtype, const_cast<void*>(data), offset, /*store=*/false);
    }
  }

  void Store(const TileOutput& o, void* data, const Tile& t, const T* value) {
    if (o.per_row) {
      if (t.col != 0) return;
      TORCH_INTERNAL_ASSERT(p_.extent[o.reg] == Extent::kRow || t.rows == 1, "lazyplus: a per-row output holds one value");
      Convert(const_cast<T*>(value), t.rows, o.dtype, data, t.row, /*store=*/true);
    } else if (o.dtype == c10::CppTypeToScalarType<T>::value) {  // large, or over donated memory
      T* dst = static_cast<T*>(data) + t.row * cols_ + t.col;
      if (stream_) {
        StreamCopy(dst, value, t.numel() * sizeof(T));
      } else {
        std::memcpy(dst, value, t.numel() * sizeof(T));
      }
    } else {
      Convert(const_cast<T*>(value), t.numel(), o.dtype, data, t.row * cols_ + t.col, /*store=*/true);
    }
  }

  // Converts between registers and buffers of another dtype (eager's static_cast semantics).
  static void Convert(T* regs, int64_t n, c10::ScalarType dtype, void* buffer, int64_t offset, bool store) {
    AT_DISPATCH_ALL_TYPES_AND3(at::kBool, at::kBFloat16, at::kHalf, dtype, "lazyplus_tile_convert", [&] {
      scalar_t* b = static_cast<scalar_t*>(buffer) + offset;
      if (store) {
        for (int64_t i = 0; i < n; ++i) b[i] = static_cast<scalar_t>(regs[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) regs[i] = static_cast<T>(b[i]);
      }
    });
  }

  // An instruction's operand in row r of a span: `step` elements on from row r - 1, its elements or
  // (`one`) a single value read for each.
  struct Operand {
    const T* p;
    int64_t step;
    bool one;
  };
  static V Read(const Operand& o, int64_t r, int64_t i, int64_t count) {
    const T* p = o.p + r * o.step;
    if (o.one) return V(p[0]);
    return count == V::size() ? V::loadu(p + i) : V::loadu(p + i, count);
  }
  // d[r * width + i] = f(operands at (r, i)).
  template <typename F, typename... Ops>
  static void Span(T* d, int64_t rows, int64_t width, F f, Ops... ops) {
    for (int64_t r = 0; r < rows; ++r, d += width) {
      int64_t i = 0;
      for (; i + V::size() <= width; i += V::size()) f(Read(ops, r, i, V::size())...).store(d + i);
      if (i < width) f(Read(ops, r, i, width - i)...).store(d + i, width - i);
    }
  }

  // Runs an elementwise instruction over what its destination holds of the tile: every element (row
  // by row where an operand holds one value per row or one col shared by the rows), one value per
  // row, or one value.
  template <size_t N, typename F>
  void Map(const std::array<int32_t, N>& operands, int32_t dst, const Tile& t, std::vector<T*>& reg, F f) {
    std::array<Operand, N> ops;
    Extent extent = p_.extent[dst];
    bool by_row = false;
    for (size_t k = 0; k < N; ++k) {
      Extent e = p_.extent[operands[k]];
      bool tile = extent == Extent::kTile;
      int64_t step = !tile ? 0 : e == Extent::kTile ? t.width : e == Extent::kRow ? 1 : 0;
      ops[k] = {reg[operands[k]], step, tile ? Uniform(e) : e == Extent::kOne};
      by_row = by_row || (tile && (e == Extent::kRow || e == Extent::kCol));
    }
    int64_t rows = by_row ? t.rows : 1;
    int64_t width = extent == Extent::kOne ? 1 : extent == Extent::kRow ? t.rows : by_row ? t.width : t.numel();
    std::apply([&](auto... o) { Span(reg[dst], rows, width, f, o...); }, ops);
  }

  template <typename F>
  void Unary(const TileInstr& in, const Tile& t, std::vector<T*>& reg, F f) { Map<1>({in.a}, in.dst, t, reg, f); }
  template <typename F>
  void Binary(const TileInstr& in, const Tile& t, std::vector<T*>& reg, F f) {
    Map<2>({in.a, in.b}, in.dst, t, reg, f);
  }
  template <typename F>
  void Ternary(const TileInstr& in, const Tile& t, std::vector<T*>& reg, F f) {
    Map<3>({in.a, in.b, in.c}, in.dst, t, reg, f);
  }

  // As eager's row kernels (softmax, log_softmax) reduce: vec::reduce_all, whose order of additions
  // (one accumulator, then a lane tree on AVX2/AVX-512) decides the rounding of a sum.
  template <typename F>
  void RowReduce(const TileInstr& in, const Tile& t, std::vector<T*>& reg, F f) {
    for (int64_t r = 0; r < t.rows; ++r) reg[in.dst][r] = at::vec::reduce_all<T>(f, reg[in.a] + r * t.width, t.width);
  }

  void Exec(const TileInstr& in, const Tile& t, std::vector<T*>& reg) {
    using at::vec::maximum;
    using at::vec::minimum;
    auto bits = [](auto mask) { return V::blendv(V(0), V(1), mask); };  // comparison masks as 0/1
    switch (in.op) {
      case TileOp::kAdd: return Binary(in, t, reg, [](V a, V b) { return a + b; });
      case TileOp::kSub: return Binary(in, t, reg, [](V a, V b) { return a - b; });
      case TileOp::kMul: return Binary(in, t, reg, [](V a, V b) { return a * b; });
      case TileOp::kMax: return Binary(in, t, reg, [](V a, V b) { return maximum(a, b); });
      case TileOp::kMin: return Binary(in, t, reg, [](V a, V b) { return minimum(a, b); });
      // A NaN bound gives NaN (eager's clamp fills the result with it); integers never hold one.
      case TileOp::kClampMin:
        return Binary(in, t, reg, [](V a, V b) { return V::blendv(at::vec::clamp_min(a, b), b, b != b); });
      case TileOp::kClampMax:
        return Binary(in, t, reg, [](V a, V b) { return V::blendv(at::vec::clamp_max(a, b), b, b != b); });
      case TileOp::kEq: return Binary(in, t, reg, [&](V a, V b) { return bits(a == b); });
      case TileOp::kNe: return Binary(in, t, reg, [&](V a, V b) { return bits(a != b); });
      case TileOp::kLt: return Binary(in, t, reg, [&](V a, V b) { return bits(a < b); });
      case TileOp::kLe: return Binary(in, t, reg, [&](V a, V b) { return bits(a <= b); });
      case TileOp::kGt: return Binary(in, t, reg, [&](V a, V b) { return bits(a > b); });
      case TileOp::kGe: return Binary(in, t, reg, [&](V a, V b) { return bits(a >= b); });
      case TileOp::kAnd: return Binary(in, t, reg, [&](V a, V b) { return bits((a != V(0)) & (b != V(0))); });
      case TileOp::kOr: return Binary(in, t, reg, [&](V a, V b) { return bits((a != V(0)) | (b != V(0))); });
      case TileOp::kXor: return Binary(in, t, reg, [&](V a, V b) { return bits((a != V(0)) ^ (b != V(0))); });
      case TileOp::kNot: return Unary(in, t, reg, [&](V a) { return bits(a == V(0)); });
      case TileOp::kNeg: return Unary(in, t, reg, [](V a) { return a.neg(); });
      case TileOp::kAbs: return Unary(in, t, reg, [](V a) { return a.abs(); });
      case TileOp::kWhere: return Ternary(in, t, reg, [](V c, V x, V y) { return V::blendv(y, x, c != V(0)); });
      case TileOp::kFma: return Ternary(in, t, reg, [](V a, V b, V c) { return at::vec::fmadd(a, b, c); });
      case TileOp::kBroadcast: return Unary(in, t, reg, [](V a) { return a; });
      case TileOp::kRowSum: return RowReduce(in, t, reg, [](V a, V b) { return a + b; });
      case TileOp::kRowMax: return RowReduce(in, t, reg, [](V a, V b) { return maximum(a, b); });
      case TileOp::kRowMin: return RowReduce(in, t, reg, [](V a, V b) { return minimum(a, b); });
      default: break;
    }
    if constexpr (kFloating) {
      ExecFloating(in, t, reg);
    } else {
      TORCH_INTERNAL_ASSERT(false, "lazyplus: tile op ", static_cast<int>(in.op), " has no integer form");
    }
  }

  // Eager's vectorized tanh-gelu derivative (GeluKernel.cpp) with the multiply-adds g++ makes of it:
  // eager's float32 bits where its vector loop runs.
  static V GeluTanhDerivative(V x) {
    const V one(1), half(0.5), beta(T(M_SQRT2 * M_2_SQRTPI * 0.5)), kappa(T(0.044715));
    const V x_sq = x * x;
    const V tanh_inner = (beta * at::vec::fmadd(kappa, x * x_sq, x)).tanh();
    const V tanh_derivative = at::vec::fnmadd(tanh_inner, tanh_inner, one);
    const V inner_derivative = beta * at::vec::fmadd(V(T(3)) * kappa, x_sq, one);
    // eager's sum of the two products rounds both
    return Uncontracted(half * (one + tanh_inner)) + Uncontracted(half * x * tanh_derivative * inner_derivative);
  }

  void ExecFloating(const TileInstr& in, const Tile& t, std::vector<T*>& reg) {
    const V one(1), half(0.5);
    switch (in.op) {
      case TileOp::kDiv: return Binary(in, t, reg, [](V a, V b) { return a / b; });
      case TileOp::kPow: return Binary(in, t, reg, [](V x, V y) { return x.pow(y); });
      case TileOp::kPowScalar: return PowScalar(in, t, reg);
      case TileOp::kSigmoid: return Unary(in, t, reg, [&](V x) { return (one + x.neg().exp()).reciprocal(); });
      case TileOp::kTanh: return Unary(in, t, reg, [](V x) { return x.tanh(); });
      case TileOp::kExp: return Unary(in, t, reg, [](V x) { return x.exp(); });
      case TileOp::kLog: return Unary(in, t, reg, [](V x) { return x.log(); });
      case TileOp::kSqrt: return Unary(in, t, reg, [](V x) { return x.sqrt(); });
      case TileOp::kRsqrt: return Unary(in, t, reg, [](V x) { return x.rsqrt(); });
      case TileOp::kReciprocal: return Unary(in, t, reg, [](V x) { return x.reciprocal(); });
      case TileOp::kErf: return Unary(in, t, reg, [](V x) { return x.erf(); });
      case TileOp::kSin: return Unary(in, t, reg, [](V x) { return x.sin(); });
      case TileOp::kCos: return Unary(in, t, reg, [](V x) { return x.cos(); });
      case TileOp::kLog1p: return Unary(in, t, reg, [](V x) { return x.log1p(); });
      case TileOp::kExpm1: return Unary(in, t, reg, [](V x) { return x.expm1(); });
      case TileOp::kFloor: return Unary(in, t, reg, [](V x) { return x.floor(); });
      case TileOp::kCeil: return Unary(in, t, reg, [](V x) { return x.ceil(); });
      case TileOp::kTrunc: return Unary(in, t, reg, [](V x) { return x.trunc(); });
      case TileOp::kSilu: return Unary(in, t, reg, [&](V x) { return x / (one + x.neg().exp()); });
      case TileOp::kGelu:  // eager's vectorized formula (GeluKernel.cpp)
        return Unary(in, t, reg, [&](V x) { return x * half * (one + (x * V(T(M_SQRT1_2))).erf()); });
      case TileOp::kGeluTanh:
        return Unary(in, t, reg, [&](V x) {
          V inner = V(T(M_SQRT2 * M_2_SQRTPI * 0.5)) * (x + V(T(0.044715)) * x * x * x);
          return half * x * (one + inner.tanh());
        });
      case TileOp::kGeluBackward:  // eager's vectorized formula (GeluKernel.cpp), its sum contracted
        return Binary(in, t, reg, [&](V dy, V x) {
          V cdf = half * (one + (x * V(T(M_SQRT1_2))).erf());
          V pdf = V(T(M_2_SQRTPI * M_SQRT1_2 * 0.5)) * (x * x * V(T(-0.5))).exp();
          return dy * at::vec::fmadd(x, pdf, cdf);
        });
      case TileOp::kGeluTanhBackward:
        return Binary(in, t, reg, [&](V dy, V x) { return dy * GeluTanhDerivative(x); });
      case TileOp::kRoundBf16:
        return Unary(in, t, reg, [](V x) { return RoundEach(x, [](T v) { return T(float(c10::BFloat16(v))); }); });
      case TileOp::kRoundHalf:
        return Unary(in, t, reg, [](V x) { return RoundEach(x, [](T v) { return T(float(c10::Half(v))); }); });
      default: TORCH_INTERNAL_ASSERT(false, "lazyplus: unknown tile op ", static_cast<int>(in.op));
    }
  }

  // Rounds lane by lane (to bf16 or fp16 and back: eager's intermediate rounding of those dtypes).
  template <typename F>
  static V RoundEach(V x, F f) {
    __at_align__ T v[V::size()];
    x.store(v);
    for (auto& e : v) e = f(e);
    return V::loadu(v);
  }

  // Eager's pow with a scalar exponent special-cases these exponents (PowKernel.cpp); its pow of two
  // tensors does not, even where the exponent is one element.
  void PowScalar(const TileInstr& in, const Tile& t, std::vector<T*>& reg) {
    auto pow = [](V x, V y) { return x.pow(y); };
    if (p_.extent[in.b] != Extent::kOne) return Binary(in, t, reg, pow);
    T e = reg[in.b][0];
    if (e == T(2)) return Unary(in, t, reg, [](V x) { return x * x; });
    if (e == T(3)) return Unary(in, t, reg, [](V x) { return x * x * x; });
    if (e == T(0.5)) return Unary(in, t, reg, [](V x) { return x.sqrt(); });
    if (e == T(-0.5)) return Unary(in, t, reg, [](V x) { return x.rsqrt(); });
    if (e == T(-1)) return Unary(in, t, reg, [](V x) { return x.reciprocal(); });
    if (e == T(-2)) return Unary(in, t, reg, [](V x) { return (x * x).reciprocal(); });
    Binary(in, t, reg, pow);
  }

  const TileProgram& p_;
  int64_t rows_, cols_;
  c10::ArrayRef<const void*> in_;
  c10::ArrayRef<void*> out_;
  int64_t width_;          // cols of a tile
  int64_t rows_per_tile_;  // more than one when rows are shorter than kTile
  int64_t slot_size_;      // elements of a register's scratch
  bool stream_;  // outputs are large: written with non-temporal stores
  c10::SmallVector<bool, 8> direct_;  // per output: written in place by its defining instruction
};

}  // namespace

void RunTileProgramImpl(const TileProgram& p, int64_t rows, int64_t cols, c10::ArrayRef<const void*> in,
                        c10::ArrayRef<void*> out) {
  switch (p.compute) {
    case ComputeType::kFloat: return Interpreter<float>(p, rows, cols, in, out).Run();
    case ComputeType::kDouble: return Interpreter<double>(p, rows, cols, in, out).Run();
    case ComputeType::kInt64: return Interpreter<int64_t>(p, rows, cols, in, out).Run();
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
