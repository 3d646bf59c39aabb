#pragma once
// Freed blocks kept by their exact size, for the next request of that size: the last kept is handed
// out first (a training loop asks for the same sizes every step). The host pool keeps computed values'
// memory this way, the allocator pending tensors' mapped placeholders.
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace lazyplus {

class BlocksBySize {
 public:
  explicit BlocksBySize(size_t max_bytes) : max_bytes_(max_bytes) {}

  // A kept block of `nbytes`, or null.
  void* Take(size_t nbytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = kept_.find(nbytes);
    if (it == kept_.end() || it->second.empty()) return nullptr;
    void* block = it->second.back();
    it->second.pop_back();
    bytes_ -= nbytes;
    return block;
  }

  // Keeps the block unless that would hold more than the maximum; false: the caller frees it.
  bool Keep(void* block, size_t nbytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes_ + nbytes > max_bytes_) return false;
    kept_[nbytes].push_back(block);
    bytes_ += nbytes;
    return true;
  }

  // Hands every kept block to `free`.
  template <typename Free>
  void Drain(const Free& free) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [nbytes, blocks] : kept_) {
      for (void* block : blocks) free(block, nbytes);
    }
    kept_.clear();
    bytes_ = 0;
  }

 private:
  const size_t max_bytes_;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> kept_;
  size_t bytes_ = 0;
};

}  // namespace lazyplus
