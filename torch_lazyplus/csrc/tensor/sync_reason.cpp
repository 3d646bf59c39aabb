#include "tensor/sync_reason.h"

namespace lazyplus {
namespace {
thread_local std::string current;
}

SyncReasonGuard::SyncReasonGuard(std::string reason) : previous_(std::move(current)) { current = std::move(reason); }
SyncReasonGuard::~SyncReasonGuard() { current = std::move(previous_); }

std::string SyncReasonGuard::Current(const std::string& otherwise) { return current.empty() ? otherwise : current; }

}  // namespace lazyplus
