#include "library/graph_class.h"
#include "library/library.h"

#include "runtime/graph_format.h"

namespace lazyplus {
namespace {

using GraphPtr = c10::intrusive_ptr<GraphObject>;

std::vector<at::Tensor> Run(const GraphPtr& self, const std::vector<at::Tensor>& inputs) {
  return CallRunGraph(self, inputs);
}

std::vector<std::vector<int64_t>> Sizes(const std::vector<Shape>& shapes) {
  std::vector<std::vector<int64_t>> sizes;
  for (const Shape& s : shapes) sizes.emplace_back(s.sizes.begin(), s.sizes.end());
  return sizes;
}

std::vector<std::string> Dtypes(const std::vector<Shape>& shapes) {
  std::vector<std::string> dtypes;
  for (const Shape& s : shapes) dtypes.push_back(c10::toString(s.dtype));  // "Float", "BFloat16", ...
  return dtypes;
}

int64_t HashOf(const GraphPtr& self) { return static_cast<int64_t>(self->captured().graph().hash); }

int64_t NumNodes(const GraphPtr& self) { return static_cast<int64_t>(self->captured().graph().nodes.size()); }

std::string Text(const GraphPtr& self) { return GraphText(self->captured().graph()); }

// What the fake class (torch_lazyplus/_library.py) is built from: enough to produce fake outputs.
using IntField = std::tuple<std::string, int64_t>;
using NamesField = std::tuple<std::string, std::vector<std::string>>;
using SizesField = std::tuple<std::string, std::vector<std::vector<int64_t>>>;
std::tuple<IntField, IntField, SizesField, NamesField, SizesField, NamesField> Flatten(const GraphPtr& self) {
  const CapturedGraph& g = self->captured();
  return {IntField{"hash", HashOf(self)},
          IntField{"num_nodes", NumNodes(self)},
          SizesField{"input_sizes", Sizes(g.input_shapes())},
          NamesField{"input_dtypes", Dtypes(g.input_shapes())},
          SizesField{"output_sizes", Sizes(g.output_shapes())},
          NamesField{"output_dtypes", Dtypes(g.output_shapes())}};
}

}  // namespace

void RegisterGraphClass(torch::Library& m) {
  m.class_<GraphObject>("Graph")
      .def("run", &Run, "Runs the graph on inputs of the traced sizes and dtypes (torch.ops.lazyplus.run_graph)")
      .def("text", &Text, "The IR text, one node per line, with the line of code that recorded it")
      .def("hash", &HashOf, "The compile-cache key")
      .def("num_nodes", &NumNodes)
      .def("__obj_flatten__", &Flatten)
      // What plain Python objects do: a script object without these methods raises NotImplementedError
      // from len() and ==, which torch.library.opcheck's SchemaCheckMode and FakeTensor's cache do not expect.
      .def("__len__", [](const GraphPtr&) -> int64_t {
        TORCH_CHECK_TYPE(false, "object of type 'lazyplus.Graph' has no len()");
        return 0;
      })
      .def("__eq__", [](const GraphPtr& a, const GraphPtr& b) { return &a->captured() == &b->captured(); })
      .def_pickle([](const GraphPtr& self) { return SaveGraph(self->captured()); },
                  [](std::tuple<int64_t, at::Tensor> state) {
                    return c10::make_intrusive<GraphObject>(LoadGraph(std::get<0>(state), std::get<1>(state)));
                  });
}

}  // namespace lazyplus
