#pragma once
// Where in the user's program a node was recorded. The core has no Python: the bindings register a
// capture function (the default captures nothing) that returns an interned site for the innermost
// frame of user code. Capture is cheap (a site is looked up by code object and bytecode offset);
// file names and lines are resolved only when someone reads them.
#include <string>

namespace lazyplus {

struct SourceLocation {
  std::string file;
  std::string function;
  int line = 0;
};

// An interned call site: lives for the whole process, so nodes keep plain pointers to it.
class SourceSite {
 public:
  virtual ~SourceSite() = default;
  virtual const SourceLocation& location() const = 0;
};

// What a capture sees: the user's frame, and the outermost library function it called on the way
// (`Tensor.__repr__` when printing syncs), or null.
struct CapturedSource {
  const SourceSite* site = nullptr;
  const SourceSite* library_entry = nullptr;
};

using SourceCaptureFn = CapturedSource (*)();
void SetSourceCapture(SourceCaptureFn fn);
void SetSourceCaptureEnabled(bool enabled);  // on by default; LAZYPLUS_SOURCE=0 turns it off
bool SourceCaptureEnabled();

// Nodes recorded while a scope is alive (the nodes of one op) share one capture.
class SourceScope {
 public:
  SourceScope();
  ~SourceScope();
  SourceScope(const SourceScope&) = delete;
  SourceScope& operator=(const SourceScope&) = delete;

 private:
  bool outermost_;
};

// The site of the node being recorded now. Nodes recorded by the autograd engine (no Python frame on
// its thread) get the site of the forward op whose backward is running.
const SourceSite* CaptureSource();
// The full capture, for sync points.
CapturedSource CaptureCallSite();

// An interned site for a location read back from a saved graph.
const SourceSite* StoredSite(const SourceLocation& location);
// Nodes created while it lives get `site` instead of a capture (a saved graph keeps its lines).
class SourceOverride {
 public:
  explicit SourceOverride(const SourceSite* site);
  ~SourceOverride();
  SourceOverride(const SourceOverride&) = delete;
  SourceOverride& operator=(const SourceOverride&) = delete;

 private:
  struct Saved {
    bool active, captured;
    const SourceSite* site;
  } saved_;
};

// "file.py:12" (base name) or "" for no site; FullText gives "path/file.py:12 in function".
std::string ShortText(const SourceSite* site);
std::string FullText(const SourceSite* site);

}  // namespace lazyplus
