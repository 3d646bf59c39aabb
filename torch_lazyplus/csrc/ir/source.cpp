#include "ir/source.h"

#include <ATen/SequenceNumber.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/function.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <tuple>

namespace lazyplus {
namespace {

CapturedSource CaptureNothing() { return {}; }

SourceCaptureFn capture_fn = &CaptureNothing;
int enabled = -1;  // -1: read LAZYPLUS_SOURCE on first use

// Sites of forward ops by the sequence number of their autograd node, so that the backward of an op,
// recorded on the autograd engine's thread, is attributed to the line of the forward op. The autograd
// node of an op is numbered just before the op's kernel runs; the first node recorded after that takes
// the number (ops that need no gradient leave it to the op that made it).
class ForwardSites {
 public:
  void Remember(const SourceSite* site) {
    thread_local uint64_t last_sequence_nr = ~uint64_t{0};
    uint64_t sequence_nr = at::sequence_number::peek() - 1;
    if (sequence_nr == last_sequence_nr) return;  // taken already (first writer wins)
    last_sequence_nr = sequence_nr;
    uint64_t key = Key(at::RecordFunction::currentThreadId(), sequence_nr);
    std::lock_guard<std::mutex> lock(mutex_);
    Slot& slot = slots_[key % kSlots];
    if (slot.key != key) slot = {key, site};
  }
  const SourceSite* Find(uint64_t thread_id, uint64_t sequence_nr) {
    uint64_t key = Key(thread_id, sequence_nr);
    std::lock_guard<std::mutex> lock(mutex_);
    const Slot& slot = slots_[key % kSlots];
    return slot.key == key ? slot.site : nullptr;
  }

 private:
  static constexpr size_t kSlots = 1 << 16;
  static uint64_t Key(uint64_t thread_id, uint64_t sequence_nr) { return (thread_id << 40) ^ sequence_nr; }
  struct Slot {
    uint64_t key = ~uint64_t{0};
    const SourceSite* site = nullptr;
  };
  std::mutex mutex_;
  Slot slots_[kSlots];
};

ForwardSites& Forward() {
  static auto* sites = new ForwardSites();
  return *sites;
}


struct ScopeState {
  bool active = false;
  bool captured = false;
  const SourceSite* site = nullptr;
};
thread_local ScopeState scope;

const SourceSite* Capture() {
  if (auto node = torch::autograd::get_current_node()) {  // a backward op
    if (const SourceSite* site = Forward().Find(node->thread_id(), node->sequence_nr())) return site;
  }
  const SourceSite* site = capture_fn().site;
  if (site) Forward().Remember(site);
  return site;
}

std::string BaseName(const std::string& path) {
  auto slash = path.find_last_of("/\\");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

void SetSourceCapture(SourceCaptureFn fn) { capture_fn = fn ? fn : &CaptureNothing; }

void SetSourceCaptureEnabled(bool on) { enabled = on ? 1 : 0; }

bool SourceCaptureEnabled() {
  if (enabled < 0) {
    const char* env = std::getenv("LAZYPLUS_SOURCE");
    enabled = !(env && std::string(env) == "0");
  }
  return enabled == 1;
}

SourceScope::SourceScope() : outermost_(!scope.active) {
  if (outermost_) scope = {true, false, nullptr};
}

SourceScope::~SourceScope() {
  if (outermost_) scope.active = false;
}

const SourceSite* CaptureSource() {
  if (!SourceCaptureEnabled()) return nullptr;
  if (!scope.active) return Capture();
  if (!scope.captured) scope.site = Capture(), scope.captured = true;
  return scope.site;
}

namespace {
class Stored final : public SourceSite {
 public:
  explicit Stored(SourceLocation location) : location_(std::move(location)) {}
  const SourceLocation& location() const override { return location_; }

 private:
  SourceLocation location_;
};
}  // namespace

const SourceSite* StoredSite(const SourceLocation& loc) {
  static std::mutex mutex;
  static auto* sites = new std::map<std::tuple<std::string, std::string, int>, const SourceSite*>();
  std::lock_guard<std::mutex> lock(mutex);
  auto& site = (*sites)[{loc.file, loc.function, loc.line}];
  if (!site) site = new Stored(loc);  // immortal, like captured sites
  return site;
}

SourceOverride::SourceOverride(const SourceSite* site) : saved_{scope.active, scope.captured, scope.site} {
  scope = {true, true, site};
}

SourceOverride::~SourceOverride() { scope = {saved_.active, saved_.captured, saved_.site}; }

CapturedSource CaptureCallSite() { return SourceCaptureEnabled() ? capture_fn() : CapturedSource{}; }

std::string ShortText(const SourceSite* site) {
  if (!site) return "";
  const SourceLocation& loc = site->location();
  return BaseName(loc.file) + ":" + std::to_string(loc.line);
}

std::string FullText(const SourceSite* site) {
  if (!site) return "";
  const SourceLocation& loc = site->location();
  return loc.file + ":" + std::to_string(loc.line) + " in " + loc.function;
}

}  // namespace lazyplus
