#pragma once
// The lazyplus torch library: torch.classes.lazyplus.* and torch.ops.lazyplus.*, registered when the
// core library loads (also through torch.classes.load_library, without the Python package).
#include <torch/library.h>

namespace lazyplus {

void RegisterGraphClass(torch::Library& m);
void RegisterMetricsClass(torch::Library& m);
void RegisterOps(torch::Library& m);

}  // namespace lazyplus
