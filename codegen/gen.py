"""Generates the lazy node classes, tracing kernels and dispatcher registrations of torch_lazyplus.

Reads codegen/ops.yaml (functional ATen overloads) and the native_functions.yaml that ships with
torchgen, and writes C++ into the build tree (never into git):
  lazy_ops_<k>.cpp   node classes (and their factories, for loading saved graphs) + tracing kernels +
                     their PrivateUse1 registrations

For every listed functional op, its in-place and out= variants (when ATen has them) are registered
too, as "run the functional kernel, then write the result".
"""
import argparse
import os
import sys

import yaml
import torchgen
from torchgen.context import native_function_manager
from torchgen.api import dispatcher
from torchgen.api.types import DispatcherSignature
from torchgen.gen import get_grouped_native_functions, parse_native_yaml
from torchgen.model import NativeFunctionsGroup

HERE = os.path.dirname(os.path.abspath(__file__))
NUM_FILES = 4

# Attribute types: schema type -> (member type, store expression, host-call expression).
# "{a}" is the kernel argument, "{m}" the member.
ATTR_TYPES = {
    "int": ("int64_t", "{a}", "{m}"),
    "SymInt": ("int64_t", "{a}.expect_int()", "c10::SymInt({m})"),
    "int[]": ("std::vector<int64_t>", "{a}.vec()", "{m}"),
    "SymInt[]": ("std::vector<int64_t>", "C10_AS_INTARRAYREF_SLOW({a}).vec()", "c10::fromIntArrayRefSlow({m})"),
    "int?": ("std::optional<int64_t>", "{a}", "{m}"),
    "SymInt?": ("std::optional<int64_t>", "{a} ? std::optional<int64_t>({a}->expect_int()) : std::nullopt",
                "{m} ? std::optional<c10::SymInt>(*{m}) : std::nullopt"),
    "int[]?": ("std::optional<std::vector<int64_t>>", "{a} ? std::optional<std::vector<int64_t>>({a}->vec()) : std::nullopt",
               "{m} ? at::OptionalIntArrayRef(*{m}) : at::OptionalIntArrayRef()"),
    "SymInt[]?": ("std::optional<std::vector<int64_t>>",
                  "{a} ? std::optional<std::vector<int64_t>>(C10_AS_INTARRAYREF_SLOW(*{a}).vec()) : std::nullopt",
                  "{m} ? at::OptionalSymIntArrayRef(c10::fromIntArrayRefSlow(*{m})) : at::OptionalSymIntArrayRef()"),
    "bool": ("bool", "{a}", "{m}"),
    "bool?": ("std::optional<bool>", "{a}", "{m}"),
    "float": ("double", "{a}", "{m}"),
    "float?": ("std::optional<double>", "{a}", "{m}"),
    "float[]?": ("std::optional<std::vector<double>>", "{a} ? std::optional<std::vector<double>>({a}->vec()) : std::nullopt",
                 "{m} ? at::OptionalArrayRef<double>(*{m}) : at::OptionalArrayRef<double>()"),
    "ScalarType": ("at::ScalarType", "{a}", "{m}"),
    "ScalarType?": ("std::optional<at::ScalarType>", "{a}", "{m}"),
    "MemoryFormat?": ("std::optional<at::MemoryFormat>", "{a}", "{m}"),
    "str": ("std::string", "std::string({a})", "{m}"),
    "str?": ("std::optional<std::string>", "{a} ? std::optional<std::string>(std::string(*{a})) : std::nullopt",
             "{m} ? std::optional<c10::string_view>(*{m}) : std::nullopt"),
}
# Factory arguments: the device picks the lazy device; the host call runs on the CPU.
FACTORY_ARGS = {"layout": "Layout?", "device": "Device?", "pin_memory": "bool?"}


def attr_type(t):
    t = str(t)
    if t.startswith("bool[") and t.endswith("]"):
        n = t[5:-1]
        return (f"std::array<bool, {n}>", "{a}", "{m}")
    for fixed in ("int", "SymInt"):
        if t.startswith(fixed + "[") and t[len(fixed) + 1].isdigit():
            t = fixed + "[]" + ("?" if t.endswith("?") else "")
    return ATTR_TYPES.get(t)


def classify(arg):
    """How one schema argument enters the node: an operand kind, an attribute, or a factory option."""
    t = str(arg.type)
    kinds = {"Tensor": "tensor", "Tensor?": "opt_tensor", "Tensor[]": "tensor_list",
             "Tensor?[]": "opt_tensor_list", "Scalar": "scalar", "Scalar?": "opt_scalar"}
    if t in kinds:
        return kinds[t]
    if FACTORY_ARGS.get(arg.name) == t:
        return "factory_" + arg.name
    if attr_type(t):
        return "attr"
    return None


class Op:
    def __init__(self, f, meta_fix=None, reads_grad_mode=False, probed=True, tensor_twin=None, shape_function=None):
        self.f = f
        self.shape_function = shape_function  # C++ shape inference replacing a Python-only meta kernel, or None
        self.tensor_twin = tensor_twin  # a .Scalar overload's structured .Tensor overload (see meta_function)
        self.wrapped_scalars = tensor_twin_args(f, tensor_twin) if tensor_twin else set()  # Tensor in the twin
        self.probed = probed  # shape inference also runs the CPU kernel on small probes (eager_checks.h)
        self.meta_fix = meta_fix  # C++ function passing the meta result on as the CPU kernel would, or None
        self.reads_grad_mode = reads_grad_mode  # the CPU kernel's results depend on grad mode
        self.name = str(f.func.name)
        self.cpp = f.func.name.unambiguous_name()
        self.cls = "".join(p[:1].upper() + p[1:] for p in self.cpp.split("_") if p) + "Node"
        self.args = list(f.func.arguments.flat_all)
        self.kinds = [classify(a) for a in self.args]
        self.sig = DispatcherSignature.from_schema(f.func)
        self.ret = dispatcher.returns_type(f.func.returns, symint=True).cpp_type()

    def unsupported(self):
        bad = [f"{a.name}: {a.type}" for a, k in zip(self.args, self.kinds) if k is None]
        if bad:
            return "unsupported arguments " + ", ".join(bad)
        if self.f.func.arguments.out or any(a.annotation and a.annotation.is_write for a in self.args):
            return "not functional"
        if any(r.annotation for r in self.f.func.returns):
            return "returns an alias"
        if self.f.has_composite_implicit_autograd_kernel:
            return "CompositeImplicitAutograd (decomposes by itself)"
        return None

    # -- attributes recorded on the node ---------------------------------------------------------
    def attrs(self):
        """(member name, member type, store expression from kernel args) in schema order."""
        out = []
        for a, k in zip(self.args, self.kinds):
            if k == "attr":
                mtype, store, _ = attr_type(a.type)
                out.append((a.name + "_", mtype, store.format(a=a.name)))
            elif k == "tensor_list":
                out.append((a.name + "_len_", "int64_t", f"static_cast<int64_t>({a.name}.size())"))
            elif k == "opt_tensor":
                out.append((a.name + "_defined_", "bool", f"{a.name}.has_value() && {a.name}->defined()"))
            elif k == "opt_tensor_list":
                out.append((a.name + "_defined_", "std::vector<bool>", f"DefinedFlags({a.name})"))
            elif k == "opt_scalar":
                out.append((a.name + "_defined_", "bool", f"{a.name}.has_value()"))
        if self.reads_grad_mode:  # recorded with the op, so the host kernel runs under the caller's mode
            out.append(("grad_mode_", "bool", "at::GradMode::is_enabled()"))
        return out

    def node_class(self):
        attrs = self.attrs()
        params = "".join(f", {t} {m}" for m, t, _ in attrs)
        inits = "".join(f", {m}(std::move({m}))" for m, _, _ in attrs)
        hashed = ", ".join(m for m, _, _ in attrs)
        text = ' + ", " + '.join(f'"{m[:-1]}=" + AttrText({m})' for m, _, _ in attrs) or '""'
        members = "".join(f"  {t} {m};\n" for m, t, _ in attrs)
        captures = ", ".join(f"{m} = {m}" for m, _, _ in attrs)
        lookups = "".join(f'    if (name == "{m[:-1]}") return c10::IValue({m});\n' for m, _, _ in attrs)
        values = ", ".join(f"c10::IValue({m})" for m, _, _ in attrs)
        rebuilt = "".join(f", a.at({k}).to<{t}>()" for k, (_, t, _) in enumerate(attrs))
        return f"""
class {self.cls} final : public Node {{
 public:
  static inline const OpKind kind{{"aten::{self.name}"}};
  {self.cls}(Operands operands, Shapes shapes{params})
      : Node(kind, std::move(operands), std::move(shapes), HashAll({hashed})){inits} {{}}
  std::string attrs_text() const override {{ return {text}; }}
  c10::IValue attr(const std::string& name) const override {{
{lookups}    return Node::attr(name);
  }}
  std::vector<c10::IValue> attrs() const override {{ return {{{values}}}; }}
  HostKernel host_kernel() const override {{
    return [{captures}](const std::vector<at::Tensor>& in) -> std::vector<at::Tensor> {{
      [[maybe_unused]] size_t i = 0;
{self.host_unpack()}{self.host_guard()}      return Outputs(at::_ops::{self.cpp}::call({self.host_args()}));
    }};
  }}

 private:
{members}}};

const NodeFactoryRegistration {self.cls}_factory(
    {self.cls}::kind, [](Operands o, Shapes s, const std::vector<c10::IValue>& a) {{
      return MakeNode<{self.cls}>(std::move(o), std::move(s){rebuilt});
    }});
"""

    def host_unpack(self):
        lines = []
        for a, k in zip(self.args, self.kinds):
            n = a.name
            if k == "tensor":
                lines.append(f"const at::Tensor& {n} = in.at(i++);")
            elif k == "opt_tensor":
                lines.append(f"std::optional<at::Tensor> {n} = {n}_defined_ ? std::optional<at::Tensor>(in.at(i++)) : std::nullopt;")
            elif k == "tensor_list":
                lines.append(f"TORCH_CHECK_INDEX(i + {n}_len_ <= in.size(), \"lazyplus: too few operands\");")
                lines.append(f"std::vector<at::Tensor> {n}(in.begin() + i, in.begin() + i + {n}_len_);")
                lines.append(f"i += {n}_len_;")
            elif k == "opt_tensor_list":
                lines.append(f"c10::List<std::optional<at::Tensor>> {n};")
                lines.append(f"for (bool d : {n}_defined_) {n}.push_back(d ? std::optional<at::Tensor>(in.at(i++)) : std::nullopt);")
            elif k == "scalar":
                lines.append(f"at::Scalar {n} = ScalarValue(in.at(i++));")
            elif k == "opt_scalar":
                lines.append(f"std::optional<at::Scalar> {n} = {n}_defined_ ? std::optional<at::Scalar>(ScalarValue(in.at(i++))) : std::nullopt;")
        return "".join(" " * 6 + l + "\n" for l in lines)

    def host_guard(self):
        return " " * 6 + "at::AutoGradMode grad_mode(grad_mode_);\n" if self.reads_grad_mode else ""

    def host_args(self):
        out = []
        for a, k in zip(self.args, self.kinds):
            if k == "attr":
                out.append(attr_type(a.type)[2].format(m=a.name + "_"))
            elif k and k.startswith("factory_"):
                out.append("std::nullopt")
            else:
                out.append(a.name)
        return ", ".join(out)

    def meta_function(self):
        """The C++ function shape inference calls: the op's shape function (ops.yaml) or its structured
        meta function (at::meta::<op>), or None: then it dispatches to the Meta key, where PyTorch
        registers Python kernels over most C++ ones (a call on this Xeon: add 106 µs, gelu 430,
        nll_loss_forward 565; their C++ meta functions ~5). A meta function is the one eager's CPU
        kernel runs, errors and output layout included. A .Scalar overload whose .Tensor twin is
        structured calls the twin's on the scalar as a wrapped number, as its CPU kernel does
        (add.Scalar: `at::add(self, wrapped_scalar_tensor(other), alpha)`)."""
        if self.shape_function:
            return self.shape_function
        f = self.tensor_twin or self.f
        if f.structured_delegate is None or any(k.startswith("factory_") for k in self.kinds):
            return None
        symint = any("SymInt" in str(a.type) for a in self.args)
        return f"at::meta::{f.root_name}{'_symint' if symint else ''}"

    # -- the tracing kernel ----------------------------------------------------------------------
    def kernel(self):
        lines = [f'static auto* traced = metrics::GetCounter("lazy::{self.f.func.name.name}");',
                 "Tracer tr(traced);"]
        meta_args = []
        factory = "factory_device" in self.kinds  # a factory's scalars may set its size (arange)
        for a, k in zip(self.args, self.kinds):
            if k in ("tensor", "opt_tensor", "tensor_list", "opt_tensor_list"):
                lines.append(f"auto m_{a.name} = tr.Input({a.name});")
                meta_args.append(f"m_{a.name}")
            elif k in ("scalar", "opt_scalar"):
                lines.append(f"tr.Scalar({a.name}{', true' if factory else ''});")
                wrapped = a.name in self.wrapped_scalars
                meta_args.append(f"at::native::wrapped_scalar_tensor({a.name})" if wrapped else a.name)
            elif k == "factory_device":
                lines.append(f"tr.SetDevice({a.name});")
                meta_args.append("at::Device(at::kMeta)")
            elif k == "factory_pin_memory":
                meta_args.append("std::nullopt")
            else:
                meta_args.append(a.name)
        op = f"at::_ops::{self.cpp}"
        fallback_args = "".join(f", {a.name}" for a in self.args)
        store = "".join(f", {s}" for _, _, s in self.attrs())
        infer = self.meta_function() or f"at::_ops::{self.cpp}::call"
        attrs = ", ".join(s for _, _, s in self.attrs())
        shape_call = f"{infer}({', '.join(meta_args)})"
        if self.meta_fix:
            shape_call = f"{self.meta_fix}({shape_call}, {', '.join(meta_args)})"
        lines += [  # meta kernels answer once per distinct metadata (some are slow Python kernels)
            f"auto meta_fn = [&] {{ return {shape_call}; }};",
            "static thread_local MetaCache<decltype(meta_fn())> meta_cache;",
            f"hash_t meta_key = tr.MetaKey(HashAll({attrs}));",
            "auto meta = meta_cache.Find(meta_key);",
            "if (!meta && (meta = tr.Meta(meta_fn))) {",
            *([f"  CheckAsEager<{op}::schema>::call({op}::name, {op}::overload_name{fallback_args});"]
              if self.probed else []),
            "  meta_cache.Insert(meta_key, *meta);",
            "}",
        ]
        lines += [
            f"if (!meta) return FallbackCall<{op}::schema>::call({op}::name, {op}::overload_name{fallback_args});",
            f"auto node = MakeNode<{self.cls}>(tr.TakeOperands(), ShapesOf(*meta){store});",
            "return tr.Wrap(node, *meta);",
        ]
        body = "".join("  " + l + "\n" for l in lines)
        return f"{self.sig.decl(name='lazy_' + self.cpp)} {{\n{body}}}\n"


# In-place ops that eager lets write through a view that repeats memory (an expanded tensor), with the
# function that writes them there (torch_lazyplus/csrc/aten/repeated_writes.h). fill_ and zero_ need
# none: they write one value everywhere. Every other in-place op raises eager's error for one, as
# TensorIterator does.
WRITE_REPEATED_MEMORY = {"fill_": None, "zero_": None, "masked_fill_": "MaskedFillRepeated",
                         "index_put_": "IndexPutRepeated", "_index_put_impl_": "IndexPutRepeated"}


def inplace_kernel(op, f):
    sig = DispatcherSignature.from_schema(f.func)
    args = ", ".join(a.name for a in f.func.arguments.flat_all)
    self_name = f.func.arguments.flat_all[0].name
    name = str(f.func.name.name)
    if name not in WRITE_REPEATED_MEMORY:
        check = f"  at::assert_no_internal_overlap({self_name});\n"
    elif WRITE_REPEATED_MEMORY[name]:
        check = (f"  if (at::has_internal_overlap({self_name}) == at::MemOverlap::Yes) "
                 f"return {WRITE_REPEATED_MEMORY[name]}({args});\n")
    else:
        check = ""
    return (f"{sig.decl(name='lazy_' + f.func.name.unambiguous_name())} {{\n{check}"
            f"  WriteInplace({self_name}, lazy_{op.cpp}({args}));\n  return {self_name};\n}}\n")


def out_kernel(op, f):
    sig = DispatcherSignature.from_schema(f.func)
    outs = [a.name for a in f.func.arguments.out]
    given = {a.name for a in f.func.arguments.flat_all}
    # Factory out= variants have no dtype/device arguments: the out tensor supplies them.
    implied = {"dtype": f"{outs[0]}.scalar_type()", "device": f"{outs[0]}.device()"}
    inputs = [a.name if a.name in given else implied.get(a.name, "std::nullopt") for a in op.args]
    call = f"lazy_{op.cpp}({', '.join(inputs)})"
    ret = dispatcher.returns_type(f.func.returns, symint=True).cpp_type()
    # As eager's TensorIterator: an out= tensor may be an input, not overlap one in part.
    tensors = [a.name for a, k in zip(op.args, op.kinds) if k == "tensor" and a.name in given]
    single_outs = [a.name for a in f.func.arguments.out if not a.type.is_list_like()]
    checks = "".join(f"  at::assert_no_partial_overlap({o}, {t});\n" for o in single_outs for t in tensors)
    if ret == "void":
        body = f"  WriteOut({outs[0]}, {call});\n"
    elif len(outs) == 1:
        body = f"  WriteOut({outs[0]}, {call});\n  return {outs[0]};\n"
    else:
        body = f"  auto r = {call};\n"
        body += "".join(f"  WriteOut({o}, std::get<{i}>(r));\n" for i, o in enumerate(outs))
        body += f"  return {ret}({', '.join(outs)});\n"
    return f"{sig.decl(name='lazy_' + f.func.name.unambiguous_name())} {{\n{checks}{body}}}\n"


PRELUDE = """// Generated by codegen/gen.py from codegen/ops.yaml. Do not edit.
// Tracing glue around dispatcher calls, not numeric kernels: -O1 compiles these files (which dominate
// the build) in less than half the time of -O2.
#pragma GCC optimize("O1")
#include <ATen/MemoryOverlap.h>
#include <ATen/ScalarOps.h>
#include <ATen/core/List.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/strides.h>
#include <ATen/core/dispatch/Dispatcher.h>
{includes}
#include "ir/node.h"
#include "ir/node_factory.h"
#include "aten/cpu_layouts.h"
#include "aten/eager_checks.h"
#include "aten/fallback.h"
#include "aten/kernel_registration.h"
#include "aten/repeated_writes.h"
#include "aten/shape_functions.h"
#include "tensor/tracing.h"

namespace lazyplus {{
namespace {{

[[maybe_unused]] std::vector<bool> DefinedFlags(const c10::List<std::optional<at::Tensor>>& ts) {{
  std::vector<bool> flags;
  for (std::optional<at::Tensor> t : ts) flags.push_back(t.has_value() && t->defined());
  return flags;
}}
"""


def tensor_twin_args(f, twin):
    """Names of the arguments that are Scalar in `f` and Tensor in `twin`, if the two schemas differ
    only there (add.Scalar and add.Tensor: `other`); else None."""
    ours, theirs = list(f.func.arguments.flat_all), list(twin.func.arguments.flat_all)
    if [a.name for a in ours] != [a.name for a in theirs]:
        return None
    differ = [(str(a.type), str(b.type)) for a, b in zip(ours, theirs) if str(a.type) != str(b.type)]
    if not differ or any(d != ("Scalar", "Tensor") for d in differ):
        return None
    return {a.name for a, b in zip(ours, theirs) if str(a.type) != str(b.type)}


def tensor_twin(f, by_name):
    """The structured .Tensor overload an unstructured .Scalar overload wraps (see Op.meta_function)."""
    overload = f.func.name.overload_name
    if f.structured_delegate is not None or not overload.startswith("Scalar"):
        return None
    twin = by_name.get(f"{f.func.name.name}.{overload.replace('Scalar', 'Tensor', 1)}")
    if twin is None or twin.structured_delegate is None or not tensor_twin_args(f, twin):
        return None
    return twin


def load_ops():
    """The op names of codegen/ops.yaml, its cpu_layouts and meta_checks (op name -> C++ function), its
    ops that read grad mode, those never probed and its shape_functions (op name -> C++ function)."""
    with open(os.path.join(HERE, "ops.yaml")) as fh:
        groups = yaml.safe_load(fh)
    meta_fixes = {**groups.pop("cpu_layouts"), **groups.pop("meta_checks")}
    grad_mode, unprobed = set(groups.pop("reads_grad_mode")), set(groups.pop("unprobed"))
    shape_functions = groups.pop("shape_functions")
    return [name for names in groups.values() for name in names], meta_fixes, grad_mode, unprobed, shape_functions


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    native = os.path.join(os.path.dirname(torchgen.__file__), "packaged", "ATen", "native")
    parsed = parse_native_yaml(os.path.join(native, "native_functions.yaml"), os.path.join(native, "tags.yaml"))
    by_name = {str(f.func.name): f for f in parsed.native_functions}
    groups = {str(g.functional.func.name): g for g in get_grouped_native_functions(parsed.native_functions)
              if isinstance(g, NativeFunctionsGroup)}

    ops, skipped = [], []
    names, meta_fixes, grad_mode, unprobed, shape_functions = load_ops()
    for name in dict.fromkeys(names):
        if name not in by_name:
            skipped.append(f"{name}: not in this torch's native_functions.yaml")
            continue
        with native_function_manager(by_name[name]):
            op = Op(by_name[name], meta_fixes.get(name), name in grad_mode, name not in unprobed,
                    tensor_twin(by_name[name], by_name), shape_functions.get(name))
            why = op.unsupported()
        if why:
            skipped.append(f"{name}: {why}")
            continue
        ops.append(op)
    os.makedirs(args.out, exist_ok=True)
    for k in range(NUM_FILES):
        write_file(os.path.join(args.out, f"lazy_ops_{k}.cpp"), ops[k::NUM_FILES], groups)
    for s in skipped:
        print(f"codegen: skipped {s}", file=sys.stderr)
    print(f"codegen: {len(ops)} lazy ops generated into {args.out}")


def write_file(path, ops, groups):
    includes, body, regs = set(), [], []
    for op in ops:
        includes.add(f"#include <ATen/ops/{op.f.root_name}_ops.h>")
        if op.meta_function() and not op.shape_function:  # shape functions: aten/shape_functions.h
            includes.add(f"#include <ATen/ops/{(op.tensor_twin or op.f).root_name}_meta_dispatch.h>")
        with native_function_manager(op.f):
            body.append(op.node_class())
            body.append(op.kernel())
        regs.append((op.name, op.cpp))
        group = groups.get(op.name)
        for variant, make in ((group and group.inplace, inplace_kernel), (group and group.out, out_kernel)):
            if variant is None or variant.func.name.name.base.startswith("_foreach"):
                continue
            includes.add(f"#include <ATen/ops/{variant.root_name}_ops.h>")
            with native_function_manager(variant):
                body.append(make(op, variant))
            regs.append((str(variant.func.name), variant.func.name.unambiguous_name()))
    text = PRELUDE.format(includes="\n".join(sorted(includes)))
    text += "\n".join(body)
    # Runtime function pointers, not TORCH_FN: kernels of one signature then share their boxing wrappers,
    # which cut the generated files' compile time by a third.
    text += "\nconst bool registered = [] {\n"
    for name, cpp in regs:
        base, _, overload = name.partition(".")
        text += f'  RegisterLazyKernel("aten::{base}", "{overload}", &lazy_{cpp});\n'
    text += "  return true;\n}();\n\n}  // namespace\n}  // namespace lazyplus\n"
    old = open(path).read() if os.path.exists(path) else None
    if old != text:  # keep timestamps stable so ninja rebuilds only what changed
        with open(path, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
