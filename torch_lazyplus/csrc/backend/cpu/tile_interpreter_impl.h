// The tile interpreter, compiled once per instruction set (tile_interpreter_<isa>.cpp define
// CPU_CAPABILITY and the matching target, then include this file). Each instruction runs over a whole
// tile with at::vec::Vectorized, so the interpretive overhead is paid once per tile, not per element,
// and intermediates stay in per-thread scratch that fits in L1/L2.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>

#include "schedule/tile_program.h"

namespace lazyplus {
namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kTile = 1024;           // elements per tile of a pointwise region
// Elements per parallel task, at least. A region runs several ops per element, so it splits
// smaller than eager's 32768 (TensorIterator's grain): the demo's add + layer_norm regions over
// 512 x 64 took 155 us on one thread of the 2-core EPYC, 115-123 us on two.
constexpr int64_t kGrainElements = 8192;
constexpr int64_t kStreamBytes = 32 << 20;  // outputs this large bypass the caches (larger than L3)

// Copies with non-temporal stores: a large output is not read again soon, and streaming it skips
// the read-for-ownership of every destination line (a third of the memory traffic of a copy).
void StreamCopy(void* dst, const void* src, size_t bytes) {
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

void StreamFence() {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  _mm_sfence();
#endif
}

template <typename T>
class Interpreter {
  using V = at::vec::Vectorized<T>;
  static constexpr bool kFloating = std::is_floating_point_v<T>;

 public:
  Interpreter(const TileProgram& p, int64_t rows, int64_t cols, const std::vector<const void*>& in,
              const std::vector<void*>& out)
      : p_(p), rows_(rows), cols_(cols), in_(in), out_(out), tile_(p.whole_rows ? cols : std::min(cols, kTile)),
        stream_(rows * cols * static_cast<int64_t>(sizeof(T)) >= kStreamBytes) {
    // An output written over one of the inputs (donated memory) is stored only after the whole
    // tile is computed: an instruction writing it directly could clobber what later ones read.
    for (size_t i = 0; i < p.outputs.size(); ++i) {
      direct_.push_back(p.outputs[i].direct && !stream_ && std::find(in.begin(), in.end(), out[i]) == in.end());
    }
  }

  void Run() {
    int64_t tiles_per_row = (cols_ + tile_ - 1) / tile_;
    int64_t items = rows_ * tiles_per_row;
    int64_t grain = std::max<int64_t>(1, kGrainElements / tile_);
    at::parallel_for(0, items, grain, [&](int64_t begin, int64_t end) {
      // Uninitialized: every register is written before it is read.
      std::unique_ptr<T[]> scratch(new T[static_cast<size_t>(p_.num_slots) * tile_]);
      std::vector<T*> reg(p_.num_regs());
      for (int32_t r = 0; r < p_.num_regs(); ++r) reg[r] = scratch.get() + p_.slot[r] * tile_;
      for (const auto& [r, value] : p_.constants) reg[r][0] = static_cast<T>(value);
      if (p_.row_length_reg >= 0) reg[p_.row_length_reg][0] = static_cast<T>(cols_);
      for (int64_t item = begin; item < end; ++item) {
        int64_t row = item / tiles_per_row, col = (item % tiles_per_row) * tile_;
        RunTile(row, col, std::min(tile_, cols_ - col), scratch.get(), reg);
      }
      if (stream_) StreamFence();
    });
  }

 private:
  void RunTile(int64_t row, int64_t col, int64_t n, T* scratch, std::vector<T*>& reg) {
    for (size_t i = 0; i < p_.inputs.size(); ++i) Load(p_.inputs[i], in_[i], row, col, n, scratch, reg);
    for (size_t i = 0; i < p_.outputs.size(); ++i) {
      if (direct_[i]) reg[p_.outputs[i].reg] = static_cast<T*>(out_[i]) + row * cols_ + col;
    }
    for (const auto& instr : p_.code) {
      bool reduces = instr.op == TileOp::kRowSum || instr.op == TileOp::kRowMax || instr.op == TileOp::kRowMin;
      Exec(instr, p_.uniform[instr.dst] && !reduces ? 1 : n, reg);  // a reduction reads the whole row
    }
    for (size_t i = 0; i < p_.outputs.size(); ++i) {
      const auto& o = p_.outputs[i];
      if (direct_[i]) continue;
      if (o.per_row) {
        if (col == 0) Convert(reg[o.reg], 1, o.dtype, out_[i], row, /*store=*/true);
      } else if (o.dtype == c10::CppTypeToScalarType<T>::value) {  // large, or over donated memory
        T* dst = static_cast<T*>(out_[i]) + row * cols_ + col;
        if (stream_) {
          StreamCopy(dst, reg[o.reg], n * sizeof(T));
        } else {
          std::memcpy(dst, reg[o.reg], n * sizeof(T));
        }
      } else {
        Convert(reg[o.reg], n, o.dtype, out_[i], row * cols_ + col, /*store=*/true);
      }
    }
  }

  void Load(const TileInput& in, const void* data, int64_t row, int64_t col, int64_t n, T* scratch,
            std::vector<T*>& reg) {
    T* home = scratch + p_.slot[in.reg] * tile_;
    int64_t offset = 0, count = n;
    switch (in.broadcast) {
      case Broadcast::kFull: offset = row * cols_ + col; break;
      case Broadcast::kCol: offset = col; break;
      case Broadcast::kRow: offset = row, count = 1; break;
      case Broadcast::kScalar: count = 1; break;
    }
    if (in.dtype == c10::CppTypeToScalarType<T>::value) {
      reg[in.reg] = const_cast<T*>(static_cast<const T*>(data)) + offset;  // read in place
    } else {
      reg[in.reg] = home;
      Convert(home, count, in.dtype, const_cast<void*>(data), offset, /*store=*/false);
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

  template <typename F>
  static void Unary(T* d, const T* a, int64_t n, F f) {
    int64_t i = 0;
    for (; i + V::size() <= n; i += V::size()) f(V::loadu(a + i)).store(d + i);
    if (i < n) f(V::loadu(a + i, n - i)).store(d + i, n - i);
  }

  // Operands are broadcast when uniform (one value for the tile).
  template <typename F>
  void Binary(const TileInstr& in, int64_t n, std::vector<T*>& reg, F f) {
    const T *a = reg[in.a], *b = reg[in.b];
    bool ua = p_.uniform[in.a], ub = p_.uniform[in.b];
    V a0(a[0]), b0(b[0]);
    T* d = reg[in.dst];
    int64_t i = 0;
    for (; i + V::size() <= n; i += V::size()) {
      f(ua ? a0 : V::loadu(a + i), ub ? b0 : V::loadu(b + i)).store(d + i);
    }
    if (i < n) f(ua ? a0 : V::loadu(a + i, n - i), ub ? b0 : V::loadu(b + i, n - i)).store(d + i, n - i);
  }

  // Operands are broadcast when uniform (one value for the tile).
  template <typename F>
  void Ternary(const TileInstr& in, int64_t n, std::vector<T*>& reg, F f) {
    const T *a = reg[in.a], *b = reg[in.b], *c = reg[in.c];
    bool ua = p_.uniform[in.a], ub = p_.uniform[in.b], uc = p_.uniform[in.c];
    V a0(a[0]), b0(b[0]), c0(c[0]);
    T* d = reg[in.dst];
    for (int64_t i = 0; i < n; i += V::size()) {
      int64_t k = std::min<int64_t>(V::size(), n - i);
      f(ua ? a0 : V::loadu(a + i, k), ub ? b0 : V::loadu(b + i, k), uc ? c0 : V::loadu(c + i, k)).store(d + i, k);
    }
  }

  // As eager's row kernels (softmax, log_softmax) reduce: vec::reduce_all, whose order of additions
  // (one accumulator, then a lane tree on AVX2/AVX-512) decides the rounding of a sum.
  template <typename F>
  void RowReduce(const TileInstr& in, int64_t n, std::vector<T*>& reg, F f) {
    reg[in.dst][0] = at::vec::reduce_all<T>(f, reg[in.a], n);
  }

  void Exec(const TileInstr& in, int64_t n, std::vector<T*>& reg) {
    using at::vec::maximum;
    using at::vec::minimum;
    auto bits = [](auto mask) { return V::blendv(V(0), V(1), mask); };  // comparison masks as 0/1
    switch (in.op) {
      case TileOp::kAdd: return Binary(in, n, reg, [](V a, V b) { return a + b; });
      case TileOp::kSub: return Binary(in, n, reg, [](V a, V b) { return a - b; });
      case TileOp::kMul: return Binary(in, n, reg, [](V a, V b) { return a * b; });
      case TileOp::kMax: return Binary(in, n, reg, [](V a, V b) { return maximum(a, b); });
      case TileOp::kMin: return Binary(in, n, reg, [](V a, V b) { return minimum(a, b); });
      // A NaN bound gives NaN (eager's clamp fills the result with it); integers never hold one.
      case TileOp::kClampMin:
        return Binary(in, n, reg, [](V a, V b) { return V::blendv(at::vec::clamp_min(a, b), b, b != b); });
      case TileOp::kClampMax:
        return Binary(in, n, reg, [](V a, V b) { return V::blendv(at::vec::clamp_max(a, b), b, b != b); });
      case TileOp::kEq: return Binary(in, n, reg, [&](V a, V b) { return bits(a == b); });
      case TileOp::kNe: return Binary(in, n, reg, [&](V a, V b) { return bits(a != b); });
      case TileOp::kLt: return Binary(in, n, reg, [&](V a, V b) { return bits(a < b); });
      case TileOp::kLe: return Binary(in, n, reg, [&](V a, V b) { return bits(a <= b); });
      case TileOp::kGt: return Binary(in, n, reg, [&](V a, V b) { return bits(a > b); });
      case TileOp::kGe: return Binary(in, n, reg, [&](V a, V b) { return bits(a >= b); });
      case TileOp::kAnd: return Binary(in, n, reg, [&](V a, V b) { return bits((a != V(0)) & (b != V(0))); });
      case TileOp::kOr: return Binary(in, n, reg, [&](V a, V b) { return bits((a != V(0)) | (b != V(0))); });
      case TileOp::kXor: return Binary(in, n, reg, [&](V a, V b) { return bits((a != V(0)) ^ (b != V(0))); });
      case TileOp::kNot: return Unary(reg[in.dst], reg[in.a], n, [&](V a) { return bits(a == V(0)); });
      case TileOp::kNeg: return Unary(reg[in.dst], reg[in.a], n, [](V a) { return a.neg(); });
      case TileOp::kAbs: return Unary(reg[in.dst], reg[in.a], n, [](V a) { return a.abs(); });
      case TileOp::kWhere: return Ternary(in, n, reg, [](V c, V x, V y) { return V::blendv(y, x, c != V(0)); });
      case TileOp::kFma: return Ternary(in, n, reg, [](V a, V b, V c) { return at::vec::fmadd(a, b, c); });
      case TileOp::kBroadcast: return std::fill(reg[in.dst], reg[in.dst] + n, reg[in.a][0]);
      case TileOp::kRowSum: return RowReduce(in, n, reg, [](V a, V b) { return a + b; });
      case TileOp::kRowMax: return RowReduce(in, n, reg, [](V a, V b) { return maximum(a, b); });
      case TileOp::kRowMin: return RowReduce(in, n, reg, [](V a, V b) { return minimum(a, b); });
      default: break;
    }
    if constexpr (kFloating) {
      ExecFloating(in, n, reg);
    } else {
      TORCH_INTERNAL_ASSERT(false, "lazyplus: tile op ", static_cast<int>(in.op), " has no integer form");
    }
  }

  void ExecFloating(const TileInstr& in, int64_t n, std::vector<T*>& reg) {
    T* d = reg[in.dst];
    const T* a = reg[in.a];
    const V one(1), half(0.5);
    switch (in.op) {
      case TileOp::kDiv: return Binary(in, n, reg, [](V a, V b) { return a / b; });
      case TileOp::kPow: return Binary(in, n, reg, [](V x, V y) { return x.pow(y); });
      case TileOp::kPowScalar: return PowScalar(in, n, reg);
      case TileOp::kSigmoid: return Unary(d, a, n, [&](V x) { return (one + x.neg().exp()).reciprocal(); });
      case TileOp::kTanh: return Unary(d, a, n, [](V x) { return x.tanh(); });
      case TileOp::kExp: return Unary(d, a, n, [](V x) { return x.exp(); });
      case TileOp::kLog: return Unary(d, a, n, [](V x) { return x.log(); });
      case TileOp::kSqrt: return Unary(d, a, n, [](V x) { return x.sqrt(); });
      case TileOp::kRsqrt: return Unary(d, a, n, [](V x) { return x.rsqrt(); });
      case TileOp::kReciprocal: return Unary(d, a, n, [](V x) { return x.reciprocal(); });
      case TileOp::kErf: return Unary(d, a, n, [](V x) { return x.erf(); });
      case TileOp::kSin: return Unary(d, a, n, [](V x) { return x.sin(); });
      case TileOp::kCos: return Unary(d, a, n, [](V x) { return x.cos(); });
      case TileOp::kLog1p: return Unary(d, a, n, [](V x) { return x.log1p(); });
      case TileOp::kExpm1: return Unary(d, a, n, [](V x) { return x.expm1(); });
      case TileOp::kFloor: return Unary(d, a, n, [](V x) { return x.floor(); });
      case TileOp::kCeil: return Unary(d, a, n, [](V x) { return x.ceil(); });
      case TileOp::kTrunc: return Unary(d, a, n, [](V x) { return x.trunc(); });
      case TileOp::kSilu: return Unary(d, a, n, [&](V x) { return x / (one + x.neg().exp()); });
      case TileOp::kGelu:  // eager's vectorized formula (GeluKernel.cpp)
        return Unary(d, a, n, [&](V x) { return x * half * (one + (x * V(T(M_SQRT1_2))).erf()); });
      case TileOp::kGeluTanh:
        return Unary(d, a, n, [&](V x) {
          V inner = V(T(M_SQRT2 * M_2_SQRTPI * 0.5)) * (x + V(T(0.044715)) * x * x * x);
          return half * x * (one + inner.tanh());
        });
      case TileOp::kRoundBf16:
        for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(static_cast<float>(c10::BFloat16(a[i])));
        return;
      case TileOp::kRoundHalf:
        for (int64_t i = 0; i < n; ++i) d[i] = static_cast<T>(static_cast<float>(c10::Half(a[i])));
        return;
      default: TORCH_INTERNAL_ASSERT(false, "lazyplus: unknown tile op ", static_cast<int>(in.op));
    }
  }

  // Eager's pow with a scalar exponent special-cases these exponents (PowKernel.cpp); its pow of two
  // tensors does not, even where the exponent is one element.
  void PowScalar(const TileInstr& in, int64_t n, std::vector<T*>& reg) {
    T* d = reg[in.dst];
    const T* a = reg[in.a];
    if (!p_.uniform[in.b]) return Binary(in, n, reg, [](V x, V y) { return x.pow(y); });
    T e = reg[in.b][0];
    if (e == T(2)) return Unary(d, a, n, [](V x) { return x * x; });
    if (e == T(3)) return Unary(d, a, n, [](V x) { return x * x * x; });
    if (e == T(0.5)) return Unary(d, a, n, [](V x) { return x.sqrt(); });
    if (e == T(-0.5)) return Unary(d, a, n, [](V x) { return x.rsqrt(); });
    if (e == T(-1)) return Unary(d, a, n, [](V x) { return x.reciprocal(); });
    if (e == T(-2)) return Unary(d, a, n, [](V x) { return (x * x).reciprocal(); });
    Binary(in, n, reg, [](V x, V y) { return x.pow(y); });
  }

  const TileProgram& p_;
  int64_t rows_, cols_;
  const std::vector<const void*>& in_;
  const std::vector<void*>& out_;
  int64_t tile_;
  bool stream_;  // outputs are large: written with non-temporal stores
  std::vector<bool> direct_;  // per output: written in place by its defining instruction
};

}  // namespace

void RunTileProgramImpl(const TileProgram& p, int64_t rows, int64_t cols, const std::vector<const void*>& in,
                        const std::vector<void*>& out) {
  switch (p.compute) {
    case ComputeType::kFloat: return Interpreter<float>(p, rows, cols, in, out).Run();
    case ComputeType::kDouble: return Interpreter<double>(p, rows, cols, in, out).Run();
    case ComputeType::kInt64: return Interpreter<int64_t>(p, rows, cols, in, out).Run();
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace lazyplus
