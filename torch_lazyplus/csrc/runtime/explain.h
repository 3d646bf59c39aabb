#pragma once
// Why lazyplus synced, compiled a graph or fell back, and at which line of the user's code. Events go
// to a bounded log (debug.explain()) and, under LAZYPLUS_DEBUG=1, to stderr as they happen. Per-graph
// statistics (runs, compiles, trace/compile/execute/transfer times) feed metrics.graphs().
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/source.h"

namespace lazyplus::explain {

struct Event {
  std::string kind;      // "sync", "compile", "fallback", "warning"
  std::string cause;     // sync: "explicit sync", ".item()", ".cpu()", "print", "random op", "fallback",
                         // "data-dependent shape"; compile: "first graph", "new graph"
  std::string location;  // "path/file.py:12 in function", or "" when unknown
  std::string detail;
  hash_t graph = 0;
};

struct GraphStats {
  hash_t graph = 0;
  int64_t nodes = 0;
  std::string location;  // where its first sync was caused (filled by Graphs())
  const SourceSite* first_site = nullptr;
  int64_t runs = 0, compiles = 0;
  int64_t trace_ns = 0, compile_ns = 0, execute_ns = 0, transfer_ns = 0;
};

// Times of one sync, from the graph executor.
struct SyncTimes {
  int64_t trace_ns = 0, compile_ns = 0, execute_ns = 0;
};

// The graph executor reports each sync, and each compile before it happens.
void OnCompile(const Graph& graph, const CapturedSource& where);
void OnSync(const std::string& reason, const CapturedSource& where, const Graph& graph, bool compiled,
            const SyncTimes& times);
void OnFallback(const std::string& op, bool data_dependent, const CapturedSource& where);
// Time spent copying the results of the last synced graph to the host (or data to the device).
void OnTransfer(int64_t ns);

std::vector<Event> Events();
std::vector<GraphStats> Graphs();
void Clear();
void SetPrinting(bool on);  // LAZYPLUS_DEBUG=1 turns it on
// A warning when one call site has synced more than `n` distinct graphs (default 8).
int64_t SetMaxGraphsPerSite(int64_t n);

}  // namespace lazyplus::explain
