#include "backend/cuda/cuda_source.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "backend/cuda/cuda_preamble.h"

namespace lazyplus {
namespace {

const char* StorageType(c10::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float";
    case at::kDouble: return "double";
    case at::kLong: return "long long";
    case at::kInt: return "int";
    case at::kShort: return "short";
    case at::kChar: return "signed char";
    case at::kByte: return "unsigned char";
    case at::kBool: return "bool";
    case at::kHalf: return "lp_half";
    case at::kBFloat16: return "lp_bf16";
    default: TORCH_CHECK(false, "lazyplus: no CUDA storage type for ", t);
  }
}

const char* ComputeTypeName(ComputeType c) {
  switch (c) {
    case ComputeType::kFloat: return "float";
    case ComputeType::kDouble: return "double";
    case ComputeType::kInt64: return "lp_i64";  // one word: lp_i64(0) is a cast
  }
  return "float";
}

std::string R(int32_t reg) { return "r" + std::to_string(reg); }

// A constant exactly (hexadecimal floating literals round-trip every double).
std::string Literal(double v, const std::string& T) {
  if (std::isnan(v)) return "lp_nan(" + T + "())";
  if (std::isinf(v)) return std::string(v < 0 ? "-" : "") + "lp_inf(" + T + "())";
  char text[64];
  std::snprintf(text, sizeof(text), "%a", v);
  return "static_cast<" + T + ">(" + text + ")";
}

// The expression of one elementwise instruction over operands a, b, c.
std::string Expr(const TileInstr& in, const TileProgram& p, const std::string& T, const std::string& a,
                 const std::string& b, const std::string& c) {
  bool integral = p.compute == ComputeType::kInt64;
  auto call = [](const char* f, std::initializer_list<std::string> args) {
    std::string s = std::string(f) + "(";
    for (const auto& arg : args) s += (s.back() == '(' ? "" : ", ") + arg;
    return s + ")";
  };
  auto bits = [&](const std::string& cond) { return "static_cast<" + T + ">(" + cond + ")"; };
  switch (in.op) {
    case TileOp::kAdd: return a + " + " + b;
    case TileOp::kSub: return a + " - " + b;
    case TileOp::kMul: return a + " * " + b;
    case TileOp::kMax: return call("lp_max", {a, b});
    case TileOp::kMin: return call("lp_min", {a, b});
    case TileOp::kClampMin: return call("lp_clamp_min", {a, b});
    case TileOp::kClampMax: return call("lp_clamp_max", {a, b});
    case TileOp::kEq: return bits(a + " == " + b);
    case TileOp::kNe: return bits(a + " != " + b);
    case TileOp::kLt: return bits(a + " < " + b);
    case TileOp::kLe: return bits(a + " <= " + b);
    case TileOp::kGt: return bits(a + " > " + b);
    case TileOp::kGe: return bits(a + " >= " + b);
    case TileOp::kAnd: return bits("(" + a + " != 0) && (" + b + " != 0)");
    case TileOp::kOr: return bits("(" + a + " != 0) || (" + b + " != 0)");
    case TileOp::kXor: return bits("(" + a + " != 0) != (" + b + " != 0)");
    case TileOp::kNot: return bits(a + " == 0");
    case TileOp::kNeg: return "-" + a;
    case TileOp::kAbs: return call("lp_abs", {a});
    case TileOp::kWhere: return a + " != 0 ? " + b + " : " + c;
    case TileOp::kFma: return call("lp_fma", {a, b, c});
    case TileOp::kBroadcast: return a;
    default: break;
  }
  TORCH_CHECK(!integral, "lazyplus: tile op ", static_cast<int>(in.op), " has no integer form");
  switch (in.op) {
    case TileOp::kDiv: return a + " / " + b;
    case TileOp::kPow: return call("lp_pow", {a, b});
    // Eager special-cases a scalar exponent only (a one-element tensor exponent is not one).
    case TileOp::kPowScalar: return call(p.extent[in.b] == Extent::kOne ? "lp_pow_scalar" : "lp_pow", {a, b});
    case TileOp::kSigmoid: return T + "(1) / (" + T + "(1) + lp_exp(-" + a + "))";
    case TileOp::kSilu: return a + " / (" + T + "(1) + lp_exp(-" + a + "))";
    case TileOp::kTanh: return call("lp_tanh", {a});
    case TileOp::kExp: return call("lp_exp", {a});
    case TileOp::kLog: return call("lp_log", {a});
    case TileOp::kSqrt: return call("lp_sqrt", {a});
    case TileOp::kRsqrt: return call("lp_rsqrt", {a});
    case TileOp::kReciprocal: return T + "(1) / " + a;
    case TileOp::kErf: return call("lp_erf", {a});
    case TileOp::kSin: return call("lp_sin", {a});
    case TileOp::kCos: return call("lp_cos", {a});
    case TileOp::kLog1p: return call("lp_log1p", {a});
    case TileOp::kExpm1: return call("lp_expm1", {a});
    case TileOp::kFloor: return call("lp_floor", {a});
    case TileOp::kCeil: return call("lp_ceil", {a});
    case TileOp::kTrunc: return call("lp_trunc", {a});
    case TileOp::kGelu: return call("lp_gelu", {a});
    case TileOp::kGeluTanh: return call("lp_gelu_tanh", {a});
    case TileOp::kGeluBackward: return call("lp_gelu_backward", {a, b});
    case TileOp::kGeluTanhBackward: return call("lp_gelu_tanh_backward", {a, b});
    case TileOp::kRoundBf16: return call("lp_round_bf16", {a});
    case TileOp::kRoundHalf: return call("lp_round_half", {a});
    default: TORCH_CHECK(false, "lazyplus: tile op ", static_cast<int>(in.op), " has no CUDA form");
  }
}

bool IsReduction(TileOp op) { return op == TileOp::kRowSum || op == TileOp::kRowMax || op == TileOp::kRowMin; }

// Renders one program into one source text.
class Renderer {
 public:
  Renderer(const TileProgram& p, const std::vector<bool>& by_value)
      : p_(p), T_(ComputeTypeName(p.compute)), by_value_(by_value) {
    // A host number is one element, whatever its extent: a full-size input only of a one-element region.
    by_value_.resize(p.inputs.size());
  }

  CudaSource Render() {
    for (size_t i = 0; i < p_.inputs.size(); ++i) {
      AddParameter("in", i, "const " + std::string(StorageType(p_.inputs[i].dtype)), by_value_[i]);
    }
    for (size_t i = 0; i < p_.outputs.size(); ++i) AddParameter("out", i, StorageType(p_.outputs[i].dtype), false);
    s_ << "// lazyplus region: " << p_.inputs.size() << " inputs, " << p_.outputs.size() << " outputs, "
       << p_.code.size() << " instructions, computing in " << T_ << "\n";
    if (p_.whole_rows) {
      RowFunction();
      LoopedFunction();
      RowKernels();
    } else {
      Body();
      Element();
      Group();
      PointwiseKernels();
    }
    HostEntries();
    std::string text = std::string(kCudaPreamble) + s_.str();
    // The name is the text's hash (the kernel cache's key), written into the text.
    char name[32];
    std::snprintf(name, sizeof(name), "lazyplus_%016llx", static_cast<unsigned long long>(Fnv1a(text)));
    CudaSource out{name, Replace(text, "LP_NAME", name), {}, {}, by_value_};
    for (const char* variant : Variants()) {
      out.kernels.push_back(out.name + variant);
      out.host_entries.push_back(out.name + "_host" + variant);
    }
    return out;
  }

 private:
  // Buffer `i` of `kind` (in, out), or a number passed by value: a kernel parameter, an argument
  // passed on, and the host twins' cast of their untyped pointers.
  void AddParameter(const std::string& kind, size_t i, const std::string& element, bool by_value) {
    std::string name = kind + std::to_string(i), comma = params_.empty() ? "" : ", ";
    std::string pointer = "static_cast<" + element + "*>(" + kind + "[" + std::to_string(i) + "])";
    params_ += comma + element + (by_value ? " " : "* ") + name;
    args_ += comma + name;
    host_args_ += comma + (by_value ? "*" + pointer : pointer);
  }

  // Stable across builds and processes, unlike ir/hash.h's std::hash of a string: the disk cache's key.
  static uint64_t Fnv1a(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
    return h;
  }
  static std::string Replace(std::string s, const std::string& from, const std::string& to) {
    for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
      s.replace(at, from.size(), to);
    }
    return s;
  }

  bool NeedsRowCol() const {
    for (const auto& in : p_.inputs) {
      if (p_.extent[in.reg] == Extent::kRow || p_.extent[in.reg] == Extent::kCol) return true;
    }
    for (const auto& o : p_.outputs) {
      if (o.per_row) return true;
    }
    return false;
  }

  // Where input i's element of (row, col) lives, by its extent (`flat`: the element's flat index).
  std::string InputIndex(size_t i, const std::string& flat) const {
    switch (p_.extent[p_.inputs[i].reg]) {
      case Extent::kTile: return flat;
      case Extent::kCol: return "col";
      case Extent::kRow: return "row";
      case Extent::kOne: return "0";
    }
    return flat;
  }
  std::string Load(const std::string& element) const { return "lp_load<" + T_ + ">(" + element + ")"; }
  // A full-size buffer: a group of four reads it as one vector.
  bool VectorInput(size_t i) const { return p_.extent[p_.inputs[i].reg] == Extent::kTile && !by_value_[i]; }
  std::string InputElement(size_t i, const std::string& flat) const {
    std::string name = "in" + std::to_string(i);
    return by_value_[i] ? name : name + "[" + InputIndex(i, flat) + "]";
  }
  // `indent`const T rN = value;
  void Define(const std::string& indent, int32_t reg, const std::string& value) {
    s_ << indent << "const " << T_ << " " << R(reg) << " = " << value << ";\n";
  }
  std::string Scalars(const TileInstr& in) const { return Expr(in, p_, T_, R(in.a), R(in.b), R(in.c)); }
  static std::string Cast(const TileOutput& o, const std::string& value) {
    return "lp_cast<" + std::string(StorageType(o.dtype)) + ">(" + value + ")";
  }
  static const char* ReduceOp(TileOp op) {
    return op == TileOp::kRowSum ? "lp_sum_op" : op == TileOp::kRowMax ? "lp_max_op" : "lp_min_op";
  }
  // What a thread's partial value starts from (a thread may hold no element of a short row).
  std::string ReduceInit(TileOp op) const {
    if (op == TileOp::kRowSum) return T_ + "(0)";
    return std::string(op == TileOp::kRowMax ? "lp_lowest(" : "lp_highest(") + T_ + "())";
  }

  void Constants(const std::string& indent) {
    for (const auto& [reg, value] : p_.constants) Define(indent, reg, Literal(value, T_));
    if (p_.row_length_reg >= 0) Define(indent, p_.row_length_reg, "static_cast<" + T_ + ">(cols)");
  }

  // -- pointwise programs: the body maps one element's input values to its output values --
  void Body() {
    s_ << "LP_FN void LP_NAME_body(long long cols";
    for (const auto& in : p_.inputs) s_ << ", const " << T_ << " " << R(in.reg);
    for (size_t i = 0; i < p_.outputs.size(); ++i) s_ << ", " << T_ << "& y" << i;
    s_ << ") {\n";
    Constants("  ");
    for (const auto& in : p_.code) {
      TORCH_CHECK(!IsReduction(in.op), "lazyplus: a row reduction in a pointwise program");
      Define("  ", in.dst, Scalars(in));
    }
    for (size_t i = 0; i < p_.outputs.size(); ++i) s_ << "  y" << i << " = " << R(p_.outputs[i].reg) << ";\n";
    s_ << "}\n";
  }

  // Calls the body for element i, reading full-size input k from `tile(k)`, and stores its results
  // through `store(k, value)`; per-row outputs are written by each row's first element.
  template <typename Tile, typename Store>
  void CallBody(const std::string& indent, Tile tile, Store store) {
    if (NeedsRowCol()) s_ << indent << "const long long row = lp_row_of(i, cols), col = i - row * cols;\n";
    for (size_t k = 0; k < p_.outputs.size(); ++k) s_ << indent << T_ << " y" << k << ";\n";
    s_ << indent << "LP_NAME_body(cols";
    for (size_t k = 0; k < p_.inputs.size(); ++k) s_ << ", " << Load(VectorInput(k) ? tile(k) : InputElement(k, "i"));
    for (size_t k = 0; k < p_.outputs.size(); ++k) s_ << ", y" << k;
    s_ << ");\n";
    for (size_t k = 0; k < p_.outputs.size(); ++k) {
      const auto& o = p_.outputs[k];
      std::string value = Cast(o, "y" + std::to_string(k));
      if (o.per_row) {
        s_ << indent << "if (col == 0) out" << k << "[row] = " << value << ";\n";
      } else {
        s_ << indent << store(k, value) << "\n";
      }
    }
  }

  void Element() {
    s_ << "LP_FN void LP_NAME_element(long long i, long long cols, " << params_ << ") {\n";
    CallBody(
        "  ", [](size_t k) { return "in" + std::to_string(k) + "[i]"; },
        [](size_t k, const std::string& v) { return "out" + std::to_string(k) + "[i] = " + v + ";"; });
    s_ << "}\n";
  }

  // Four consecutive elements from 4 * q, full-size buffers read and written as one vector each.
  void Group() {
    s_ << "LP_FN void LP_NAME_group(long long q, long long cols, " << params_ << ") {\n";
    for (size_t k = 0; k < p_.inputs.size(); ++k) {
      if (!VectorInput(k)) continue;
      const char* S = StorageType(p_.inputs[k].dtype);
      s_ << "  const lp_vec4<" << S << "> v" << k << " = *reinterpret_cast<const lp_vec4<" << S << ">*>(in" << k
         << " + 4 * q);\n";
    }
    for (size_t k = 0; k < p_.outputs.size(); ++k) {
      if (!p_.outputs[k].per_row) s_ << "  lp_vec4<" << StorageType(p_.outputs[k].dtype) << "> w" << k << ";\n";
    }
    s_ << "#pragma unroll\n  for (int e = 0; e < 4; ++e) {\n    const long long i = 4 * q + e;\n";
    CallBody(
        "    ", [](size_t k) { return "v" + std::to_string(k) + ".v[e]"; },
        [](size_t k, const std::string& v) { return "w" + std::to_string(k) + ".v[e] = " + v + ";"; });
    s_ << "  }\n";
    for (size_t k = 0; k < p_.outputs.size(); ++k) {
      if (p_.outputs[k].per_row) continue;
      const char* S = StorageType(p_.outputs[k].dtype);
      s_ << "  *reinterpret_cast<lp_vec4<" << S << ">*>(out" << k << " + 4 * q) = w" << k << ";\n";
    }
    s_ << "}\n";
  }

  // At least 2 blocks of 256 threads per SM (up to 128 registers a thread): with the bound on threads
  // alone ptxas aimed at 32 registers and spilled around sinf's slow path on sm_80; at 4 blocks (64
  // registers) a region of 21 transcendental outputs spilled. Small regions still use few registers.
  void PointwiseKernels() {
    s_ << "#ifdef __CUDACC_RTC__\n"
       << "extern \"C\" __global__ void __launch_bounds__(256, 2) LP_NAME_scalar(long long rows, long long cols, "
       << params_ << ") {\n"
       << "  const long long n = rows * cols, stride = static_cast<long long>(gridDim.x) * blockDim.x;\n"
       << "  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)\n"
       << "    LP_NAME_element(i, cols, " << args_ << ");\n}\n"
       << "extern \"C\" __global__ void __launch_bounds__(256, 2) LP_NAME_vec4(long long rows, long long cols, "
       << params_ << ") {\n"
       << "  const long long n = rows * cols, groups = n / 4, stride = static_cast<long long>(gridDim.x) * blockDim.x;\n"
       << "  const long long t = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;\n"
       << "  for (long long q = t; q < groups; q += stride) LP_NAME_group(q, cols, " << args_ << ");\n"
       << "  if (t < n - 4 * groups) LP_NAME_element(4 * groups + t, cols, " << args_ << ");\n}\n"
       << "#endif\n";
  }

  // -- whole-row programs: a row's elements col = tid + k * threads (k < K) in each thread's registers --
  std::string Operand(int32_t reg) const { return Uniform(p_.extent[reg]) ? R(reg) : R(reg) + "[k]"; }

  // A statement for each of the thread's elements of the row, knowing its `col` where it uses it.
  void ForEachCol(const std::string& statement) {
    s_ << "#pragma unroll\n  for (int k = 0; k < K; ++k) {\n";
    if (statement.find("col") != std::string::npos) {
      s_ << "    const long long col = tid + static_cast<long long>(k) * threads;\n";
    }
    s_ << "    " << statement << "\n  }\n";
  }

  void RowFunction() {
    s_ << "template <int K>\nLP_FN void LP_NAME_row(long long row, long long cols, int tid, int threads, " << T_
       << "* shared, " << params_ << ") {\n";
    for (size_t i = 0; i < p_.inputs.size(); ++i) {
      const int32_t reg = p_.inputs[i].reg;
      std::string element = InputElement(i, "row * cols + col");
      if (p_.extent[reg] == Extent::kTile || p_.extent[reg] == Extent::kCol) {
        s_ << "  " << T_ << " " << R(reg) << "[K];\n";
        ForEachCol(R(reg) + "[k] = col < cols ? " + Load(element) + " : " + T_ + "(0);");
      } else {
        Define("  ", reg, Load(element));
      }
    }
    Constants("  ");
    for (const auto& in : p_.inputs) StoreOutputsOf(in.reg);
    for (const auto& in : p_.code) {
      Instruction(in);
      StoreOutputsOf(in.dst);
    }
    s_ << "}\n";
  }

  // Stores the outputs `reg` holds as soon as it is computed: a row's registers then live no longer
  // than needed (stored at the end, a softmax fused with a sigmoid spilled at 1024 threads).
  void StoreOutputsOf(int32_t reg) {
    StoreUniformOutputsOf(reg);
    for (size_t i = 0; i < p_.outputs.size(); ++i) {
      const auto& o = p_.outputs[i];
      if (o.reg == reg && !o.per_row) {
        ForEachCol("if (col < cols) out" + std::to_string(i) + "[row * cols + col] = " + Cast(o, Operand(reg)) + ";");
      }
    }
  }

  void Instruction(const TileInstr& in) {
    if (IsReduction(in.op)) {
      const char* f = ReduceOp(in.op);
      s_ << "  " << T_ << " " << R(in.dst) << " = " << ReduceInit(in.op) << ";\n";
      ForEachCol("if (col < cols) " + R(in.dst) + " = " + f + "()(" + R(in.dst) + ", " + Operand(in.a) + ");");
      s_ << "  " << R(in.dst) << " = lp_block_reduce(" << R(in.dst) << ", " << f << "(), shared);\n";
      return;
    }
    std::string e = Expr(in, p_, T_, Operand(in.a), in.b < 0 ? "" : Operand(in.b), in.c < 0 ? "" : Operand(in.c));
    if (p_.extent[in.dst] == Extent::kTile) {
      s_ << "  " << T_ << " " << R(in.dst) << "[K];\n";
      ForEachCol(R(in.dst) + "[k] = " + e + ";");
    } else {
      Define("  ", in.dst, e);
    }
  }

  std::vector<const char*> Variants() const {
    if (p_.whole_rows) return {"_rows4", "_looped"};
    return {"_scalar", "_vec4"};
  }

  // A block per row: 256 threads with 4 elements each hold rows up to 1024 long; longer rows loop.
  void RowKernels() {
    s_ << "#ifdef __CUDACC_RTC__\n";
    for (const char* variant : Variants()) {
      bool looped = std::string(variant) == "_looped";
      s_ << "extern \"C\" __global__ void __launch_bounds__(" << (looped ? 1024 : 256) << ", 1) LP_NAME" << variant
         << "(long long rows, long long cols, " << params_ << ") {\n"
         << "  __shared__ " << T_ << " shared[32];\n"
         << "  for (long long row = blockIdx.x; row < rows; row += gridDim.x)\n"
         << "    LP_NAME_" << (looped ? "looped_row" : "row<4>") << "(row, cols, threadIdx.x, blockDim.x, shared, " << args_
         << ");\n}\n";
    }
    s_ << "#endif\n";
  }

  // The host runs each kernel's code in one thread (a row's registers: up to 1024 elements).
  void HostEntries() {
    s_ << "#ifndef __CUDACC_RTC__\n";
    for (const char* variant : Variants()) {
      std::string v(variant);
      s_ << "extern \"C\" void LP_NAME_host" << v
         << "(long long rows, long long cols, const void* const* in, void* const* out) {\n";
      if (v == "_scalar") {
        s_ << "  for (long long i = 0; i < rows * cols; ++i) LP_NAME_element(i, cols, " << host_args_ << ");\n";
      } else if (v == "_vec4") {
        s_ << "  const long long n = rows * cols;\n"
           << "  for (long long q = 0; q < n / 4; ++q) LP_NAME_group(q, cols, " << host_args_ << ");\n"
           << "  for (long long i = n / 4 * 4; i < n; ++i) LP_NAME_element(i, cols, " << host_args_ << ");\n";
      } else {
        s_ << "  " << T_ << " shared[32];\n"
           << "  for (long long row = 0; row < rows; ++row) LP_NAME_" << (v == "_looped" ? "looped_row" : "row<1024>")
           << "(row, cols, 0, 1, shared, " << host_args_ << ");\n";
      }
      s_ << "}\n";
    }
    s_ << "#endif\n";
  }

  // -- looped whole-row programs: each reduction, then the outputs, in a loop over the row's
  // elements that recomputes what it needs from the inputs (no row in registers: any length) --
  void LoopedFunction() {
    s_ << "LP_FN void LP_NAME_looped_row(long long row, long long cols, int tid, int threads, " << T_ << "* shared, "
       << params_ << ") {\n";
    for (size_t i = 0; i < p_.inputs.size(); ++i) {
      if (Uniform(p_.extent[p_.inputs[i].reg])) {
        Define("  ", p_.inputs[i].reg, Load(InputElement(i, "")));
      }
    }
    Constants("  ");
    for (const auto& in : p_.inputs) StoreUniformOutputsOf(in.reg);
    for (const auto& in : p_.code) {
      if (IsReduction(in.op)) {
        const char* f = ReduceOp(in.op);
        s_ << "  " << T_ << " " << R(in.dst) << " = " << ReduceInit(in.op) << ";\n"
           << "  for (long long col = tid; col < cols; col += threads) {\n";
        Recompute({in.a});
        s_ << "    " << R(in.dst) << " = " << f << "()(" << R(in.dst) << ", " << R(in.a) << ");\n  }\n"
           << "  " << R(in.dst) << " = lp_block_reduce(" << R(in.dst) << ", " << f << "(), shared);\n";
      } else if (Uniform(p_.extent[in.dst])) {
        Define("  ", in.dst, Scalars(in));
      }
      StoreUniformOutputsOf(in.dst);
    }
    std::vector<int32_t> full;
    for (const auto& o : p_.outputs) {
      if (!o.per_row) full.push_back(o.reg);
    }
    if (!full.empty()) {
      s_ << "  for (long long col = tid; col < cols; col += threads) {\n";
      Recompute(full);
      for (size_t i = 0; i < p_.outputs.size(); ++i) {
        const auto& o = p_.outputs[i];
        if (!o.per_row) s_ << "    out" << i << "[row * cols + col] = " << Cast(o, R(o.reg)) << ";\n";
      }
      s_ << "  }\n";
    }
    s_ << "}\n";
  }

  // Loads and computes, for one element, the per-element registers `targets` depend on.
  void Recompute(const std::vector<int32_t>& targets) {
    std::vector<bool> needed(p_.num_regs());
    std::vector<int32_t> stack(targets);
    std::vector<const TileInstr*> def(p_.num_regs(), nullptr);
    for (const auto& in : p_.code) def[in.dst] = &in;
    while (!stack.empty()) {
      int32_t r = stack.back();
      stack.pop_back();
      if (r < 0 || needed[r] || Uniform(p_.extent[r])) continue;
      needed[r] = true;
      if (def[r]) stack.insert(stack.end(), {def[r]->a, def[r]->b, def[r]->c});
    }
    for (size_t i = 0; i < p_.inputs.size(); ++i) {
      int32_t reg = p_.inputs[i].reg;
      if (needed[reg]) {
        Define("    ", reg, Load(InputElement(i, "row * cols + col")));
      }
    }
    for (const auto& in : p_.code) {
      if (needed[in.dst]) Define("    ", in.dst, Scalars(in));
    }
  }

  // Per-row outputs `reg` holds (one value per row): written by the row's first thread.
  void StoreUniformOutputsOf(int32_t reg) {
    for (size_t i = 0; i < p_.outputs.size(); ++i) {
      const auto& o = p_.outputs[i];
      if (o.reg != reg || !o.per_row) continue;
      TORCH_CHECK(Uniform(p_.extent[reg]), "lazyplus: a per-row output holds one value");
      s_ << "  if (tid == 0) out" << i << "[row] = " << Cast(o, R(reg)) << ";\n";
    }
  }

  const TileProgram& p_;
  const std::string T_;
  std::vector<bool> by_value_;
  std::string params_, args_, host_args_;
  std::ostringstream s_;
};

}  // namespace

CudaSource RenderCuda(const TileProgram& program, const std::vector<bool>& by_value) {
  return Renderer(program, by_value).Render();
}

}  // namespace lazyplus
