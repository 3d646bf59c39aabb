#pragma once
// Why a sync happens: the innermost reason set on this thread wins (a fallback's copies to the host
// sync because of the fallback, not because of "copy_to_cpu").
#include <string>

namespace lazyplus {

class SyncReasonGuard {
 public:
  explicit SyncReasonGuard(std::string reason);
  ~SyncReasonGuard();
  // The active reason, or `otherwise` when none is set.
  static std::string Current(const std::string& otherwise);

 private:
  std::string previous_;
};

}  // namespace lazyplus
