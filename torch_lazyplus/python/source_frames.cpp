// The Python frames behind lazyplus source sites: the capture function the bindings register with the
// core. A node's site is the innermost frame outside the libraries (torch, torch_lazyplus, the standard
// library), interned by (code object, bytecode offset); its file and line are read only when asked.
//
// Capture runs on every recorded node, while PyTorch has released the GIL for the op. On CPython 3.11
// it reads the thread's own frame chain without taking the GIL (the thread is inside C code, so its
// frames cannot change); the GIL is taken only the first time a code object is seen. Other versions
// take the GIL and walk frames through the public API.
#include "source_frames.h"

#include <Python.h>
#include <frameobject.h>

#include <mutex>
#include <unordered_map>

namespace lazyplus {
namespace {

class PythonSite final : public SourceSite {
 public:
  PythonSite(PyCodeObject* code, int lasti) : code_(code), lasti_(lasti) {}
  const SourceLocation& location() const override {
    std::call_once(resolved_, [this] {
      PyGILState_STATE gil = PyGILState_Ensure();
      location_.file = PyUnicode_AsUTF8(code_->co_filename);
      location_.function = PyUnicode_AsUTF8(code_->co_qualname);
      location_.line = PyCode_Addr2Line(code_, lasti_);
      PyGILState_Release(gil);
    });
    return location_;
  }

 private:
  PyCodeObject* code_;  // kept alive for good (see Classify): sites are immortal
  int lasti_;
  mutable std::once_flag resolved_;
  mutable SourceLocation location_;
};

struct SiteKey {
  PyCodeObject* code;
  int lasti;
  bool operator==(const SiteKey& o) const { return code == o.code && lasti == o.lasti; }
};
struct SiteKeyHash {
  size_t operator()(const SiteKey& k) const { return std::hash<void*>()(k.code) * 31 + k.lasti; }
};

// Guarded by `mutex`, which is never held while taking the GIL.
std::mutex mutex;
std::vector<std::string> library_dirs;
std::unordered_map<PyCodeObject*, bool> is_library;  // code objects are kept alive: addresses stay unique
std::unordered_map<SiteKey, PythonSite*, SiteKeyHash> sites;

// First sight of a code object: keep it alive and classify it by file (needs the GIL).
bool Classify(PyCodeObject* code) {
  PyGILState_STATE gil = PyGILState_Ensure();
  Py_INCREF(code);
  std::string file = PyUnicode_AsUTF8(code->co_filename);
  PyGILState_Release(gil);
  std::lock_guard<std::mutex> lock(mutex);
  bool library = false;
  for (const auto& dir : library_dirs) library = library || file.rfind(dir, 0) == 0;
  return is_library[code] = library;
}

bool IsLibrary(PyCodeObject* code) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = is_library.find(code);
    if (it != is_library.end()) return it->second;
  }
  return Classify(code);
}

const SourceSite* Intern(PyCodeObject* code, int lasti) {
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, added] = sites.emplace(SiteKey{code, lasti}, nullptr);
  if (added) it->second = new PythonSite(code, lasti);
  return it->second;
}

// Walks from the innermost frame outwards: `next(frame, &code, &lasti)` reads a frame and returns
// the one that called it.
template <typename Frame, typename Next>
CapturedSource Walk(Frame frame, Next next) {
  CapturedSource captured;
  for (int depth = 0; frame && depth < 64; ++depth) {
    PyCodeObject* code = nullptr;
    int lasti = -1;
    Frame caller = next(frame, &code, &lasti);
    if (lasti >= 0) {
      if (!IsLibrary(code)) {
        captured.site = Intern(code, lasti);
        break;
      }
      captured.library_entry = Intern(code, lasti);
    }
    frame = caller;
  }
  return captured;
}

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
// The leading fields of CPython 3.11's _PyInterpreterFrame (Include/internal/pycore_frame.h).
struct InterpreterFrame311 {
  PyObject* f_func;
  PyObject* f_globals;
  PyObject* f_builtins;
  PyObject* f_locals;
  PyCodeObject* f_code;
  PyObject* frame_obj;
  InterpreterFrame311* previous;
  _Py_CODEUNIT* prev_instr;
};

int Lasti(const InterpreterFrame311* f) {
  auto first = reinterpret_cast<_Py_CODEUNIT*>(f->f_code->co_code_adaptive);
  return f->prev_instr < first ? -1 : static_cast<int>((f->prev_instr - first) * sizeof(_Py_CODEUNIT));
}

CapturedSource CapturePython() {
  PyThreadState* tstate = Py_IsInitialized() ? PyGILState_GetThisThreadState() : nullptr;
  if (!tstate || !tstate->cframe) return {};  // the autograd engine's workers have no Python frames
  auto* top = reinterpret_cast<InterpreterFrame311*>(tstate->cframe->current_frame);
  if (!top) return {};
  // Loops record from the same user line again and again: remember the last one.
  thread_local SiteKey last{nullptr, -1};
  thread_local const SourceSite* last_site = nullptr;
  SiteKey key{top->f_code, Lasti(top)};
  if (key == last) return {last_site, nullptr};
  CapturedSource captured = Walk(top, [](InterpreterFrame311* f, PyCodeObject** code, int* lasti) {
    *code = f->f_code;
    *lasti = Lasti(f);
    return f->previous;
  });
  if (!captured.library_entry && captured.site) last = key, last_site = captured.site;
  return captured;
}
#else
CapturedSource CapturePython() {
  if (!Py_IsInitialized() || !PyGILState_GetThisThreadState()) return {};
  PyGILState_STATE gil = PyGILState_Ensure();
  // Frame objects stay alive while their frames run, so references can be dropped at once.
  CapturedSource captured = Walk(PyEval_GetFrame(), [](PyFrameObject* f, PyCodeObject** code, int* lasti) {
    *code = PyFrame_GetCode(f);
    Py_DECREF(*code);
    *lasti = PyFrame_GetLasti(f);
    PyFrameObject* caller = PyFrame_GetBack(f);
    Py_XDECREF(caller);
    return caller;
  });
  PyGILState_Release(gil);
  return captured;
}
#endif

}  // namespace

void InstallPythonSourceCapture(std::vector<std::string> dirs) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    library_dirs = std::move(dirs);
    is_library.clear();  // classified again on next sight (the references taken before stay: harmless)
  }
  SetSourceCapture(&CapturePython);
}

}  // namespace lazyplus
