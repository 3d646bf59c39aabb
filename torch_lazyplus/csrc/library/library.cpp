#include "library/library.h"

namespace lazyplus {

// Classes first: the ops' schemas name them.
TORCH_LIBRARY(lazyplus, m) {
  RegisterGraphClass(m);
  RegisterMetricsClass(m);
  RegisterOps(m);
}

}  // namespace lazyplus
