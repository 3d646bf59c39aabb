#include "runtime/explain.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace lazyplus::explain {
namespace {

constexpr size_t kMaxEvents = 10000;
constexpr size_t kComparedGraphs = 64;  // recent compiles a new graph is compared with

// What the explainer keeps of a compiled graph: enough to name where another graph differs.
struct NodeSummary {
  std::string op;
  Shapes shapes;
};
struct GraphSummary {
  hash_t hash;
  std::vector<hash_t> keys;
  std::vector<NodeSummary> nodes;
};

// A sync is logged raw and formatted only when read: syncs are on the hot path, reading is not.
struct SyncRecord {
  std::string op;  // the fallback or data-dependent op that caused it, if any
  int64_t nodes = 0;
  bool compiled = false;
  SyncTimes times;
};
struct Logged {
  Event event;  // for syncs: location and detail still empty
  const SourceSite* site = nullptr;
  std::optional<SyncRecord> sync;
};

struct State {
  std::mutex mutex;
  std::deque<Logged> events;
  std::deque<GraphSummary> compiled;
  std::unordered_map<hash_t, GraphStats> stats;
  std::vector<hash_t> stats_order;
  std::unordered_map<const SourceSite*, std::unordered_set<hash_t>> graphs_per_site;
  std::unordered_set<const SourceSite*> warned_sites;
  hash_t last_graph = 0;
  int64_t max_graphs_per_site = 8;
  int printing = -1;  // -1: read LAZYPLUS_DEBUG on first use
};

State& S() {
  static auto* state = new State();
  return *state;
}

std::string Hex(hash_t h) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string Describe(const NodeSummary& n) {
  std::ostringstream out;
  out << n.op << " : ";
  for (size_t i = 0; i < n.shapes.size(); ++i) out << (i ? ", " : "") << n.shapes[i];
  return out.str();
}

bool Printing(State& s) {
  if (s.printing < 0) {
    const char* env = std::getenv("LAZYPLUS_DEBUG");
    s.printing = env && std::string(env) != "0";
  }
  return s.printing == 1;
}

Event Formatted(const Logged& l) {
  Event e = l.event;
  if (!l.sync) return e;
  const SyncRecord& r = *l.sync;
  std::ostringstream detail;
  if (!r.op.empty()) detail << r.op << "; ";
  detail << "graph " << Hex(e.graph) << " (" << r.nodes << " nodes, " << (r.compiled ? "compiled" : "cached")
         << "): trace " << r.times.trace_ns / 1e6 << " ms, compile " << r.times.compile_ns / 1e6 << " ms, execute "
         << r.times.execute_ns / 1e6 << " ms";
  e.location = FullText(l.site);
  e.detail = detail.str();
  return e;
}

// Called without the lock held: resolving a location may take the GIL.
void Log(State& s, Logged l) {
  if (Printing(s)) {
    Event e = Formatted(l);
    std::fprintf(stderr, "[lazyplus] %s (%s)%s%s: %s\n", e.kind.c_str(), e.cause.c_str(),
                 e.location.empty() ? "" : " at ", e.location.c_str(), e.detail.c_str());
  }
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.events.size() >= kMaxEvents) s.events.pop_front();
  s.events.push_back(std::move(l));
}

bool ForPrinting(const CapturedSource& where) {
  if (!where.library_entry) return false;
  const std::string& fn = where.library_entry->location().function;
  for (const char* name : {"__repr__", "__str__", "__format__"}) {
    if (fn.find(name) != std::string::npos) return true;
  }
  return false;
}

std::string SyncCause(const std::string& reason, const CapturedSource& where, std::string* op) {
  auto prefixed = [&](const std::string& prefix) {
    if (reason.rfind(prefix, 0) != 0) return false;
    *op = reason.substr(prefix.size());
    return true;
  };
  if (ForPrinting(where)) return "print";  // whatever op the printing code ran
  if (reason == "sync" || reason == "synchronize") return "explicit sync";
  if (reason == "item") return ".item()";
  if (reason == "copy_to_cpu") return ".cpu()";
  if (reason == "random") return "random op";
  if (prefixed("fallback:")) return "fallback";
  if (prefixed("data-dependent:")) return "data-dependent shape";
  if (prefixed("collective:")) return "collective";
  return reason;
}

// A size of the first differing node that coincides with a size of an earlier node in one graph and
// not in the other: graph keys see which sizes are equal, so this alone makes a new graph.
struct Coincidence {
  int64_t size;
  size_t node;     // the earlier node with that size
  bool in_cached;  // the coincidence is in the cached graph, not in the new one
};

std::optional<size_t> FirstWithSize(const std::vector<NodeSummary>& nodes, size_t before, int64_t size) {
  for (size_t j = 0; j < before; ++j) {
    for (const Shape& shape : nodes[j].shapes) {
      if (std::find(shape.sizes.begin(), shape.sizes.end(), size) != shape.sizes.end()) return j;
    }
  }
  return std::nullopt;
}

std::optional<Coincidence> FindCoincidence(const std::vector<NodeSummary>& now, const std::vector<NodeSummary>& cached,
                                           size_t at) {
  if (at >= now.size() || at >= cached.size() || Describe(now[at]) != Describe(cached[at])) return std::nullopt;
  for (const Shape& shape : now[at].shapes) {
    for (int64_t size : shape.sizes) {
      if (size <= 1) continue;
      auto j_now = FirstWithSize(now, at, size), j_cached = FirstWithSize(cached, at, size);
      if (j_now == j_cached) continue;
      if (j_now && (!j_cached || *j_now < *j_cached)) return Coincidence{size, *j_now, false};
      return Coincidence{size, *j_cached, true};
    }
  }
  return std::nullopt;
}

// Where `graph` first differs from `closest`, a recently compiled graph whose first `common` nodes
// equal its own.
std::string Difference(const Graph& graph, hash_t closest, size_t closest_size, size_t common,
                       const std::optional<NodeSummary>& closest_node, const std::optional<Coincidence>& coincidence) {
  std::string cached = "cached graph " + Hex(closest) + " (" + std::to_string(closest_size) + " nodes)";
  if (common < graph.nodes.size()) {
    std::string site = FullText(graph.nodes[common]->source());
    std::string had = closest_node ? "the cached graph has " + Describe(*closest_node) : "the cached graph ends before it";
    std::string text = "differs from " + cached + " first at " + NodeText(graph, common) +
                       (site.empty() ? "" : " from " + site) + "; " + had;
    if (coincidence) {
      std::string size = std::to_string(coincidence->size), node = "%" + std::to_string(coincidence->node);
      if (coincidence->in_cached) {
        text += ", where " + size + " was also a size of " + node + " and no longer is";
      } else {
        std::string node_site = FullText(graph.nodes[coincidence->node]->source());
        text += ", but " + size + " is now also a size of " + NodeText(graph, coincidence->node) +
                (node_site.empty() ? "" : " from " + node_site);
      }
      text += " (graph keys see which sizes are equal, not their values)";
    }
    return text;
  }
  if (common < closest_size) return "is a prefix of " + cached;
  return "has the nodes of " + cached + " but other outputs or lowering decisions";
}

}  // namespace

// Source locations are resolved (which may take the GIL) outside the lock.
void OnCompile(const Graph& graph, const CapturedSource& where) {
  State& s = S();
  GraphSummary summary{graph.hash, graph.node_keys, {}};
  summary.nodes.reserve(graph.nodes.size());
  for (const Node* n : graph.nodes) summary.nodes.push_back({n->op(), n->shapes()});
  bool found = false;
  hash_t closest = 0;
  size_t closest_size = 0, best = 0;
  std::optional<NodeSummary> closest_node;
  std::optional<Coincidence> coincidence;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    const GraphSummary* nearest = nullptr;
    for (const auto& c : s.compiled) {
      size_t common = 0;
      while (common < c.keys.size() && common < graph.node_keys.size() && c.keys[common] == graph.node_keys[common]) {
        ++common;
      }
      if (nearest && common < best) continue;
      nearest = &c, best = common;
    }
    if ((found = nearest != nullptr)) {
      closest = nearest->hash, closest_size = nearest->keys.size();
      if (best < nearest->nodes.size()) closest_node = nearest->nodes[best];
      coincidence = FindCoincidence(summary.nodes, nearest->nodes, best);
    }
  }
  Event e{"compile", found ? "new graph" : "first graph", FullText(where.site), "", graph.hash};
  e.detail = "graph " + Hex(graph.hash) + " (" + std::to_string(graph.nodes.size()) + " nodes)";
  if (found) e.detail += " " + Difference(graph, closest, closest_size, best, closest_node, coincidence);
  Log(s, {std::move(e)});
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.compiled.size() >= kComparedGraphs) s.compiled.pop_front();
  s.compiled.push_back(std::move(summary));
}

void OnSync(const std::string& reason, const CapturedSource& where, const Graph& graph, bool compiled,
            const SyncTimes& times) {
  State& s = S();
  const auto nodes = static_cast<int64_t>(graph.nodes.size());
  Logged l{{"sync", "", "", "", graph.hash}, where.site, SyncRecord{"", nodes, compiled, times}};
  l.event.cause = SyncCause(reason, where, &l.sync->op);
  size_t graphs_here = 0;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.stats.size() >= kMaxEvents) s.stats.clear(), s.stats_order.clear();
    auto [it, added] = s.stats.emplace(graph.hash, GraphStats{});
    GraphStats& st = it->second;
    if (added) {
      st = {graph.hash, nodes, "", where.site};
      s.stats_order.push_back(graph.hash);
    }
    st.runs++;
    st.compiles += compiled;
    st.trace_ns += times.trace_ns;
    st.compile_ns += times.compile_ns;
    st.execute_ns += times.execute_ns;
    s.last_graph = graph.hash;
    if (where.site) {
      if (s.graphs_per_site.size() >= kMaxEvents) s.graphs_per_site.clear();
      auto& seen = s.graphs_per_site[where.site];
      seen.insert(graph.hash);
      if (static_cast<int64_t>(seen.size()) > s.max_graphs_per_site && s.warned_sites.insert(where.site).second) {
        graphs_here = seen.size();
      }
    }
  }
  Log(s, std::move(l));
  if (graphs_here == 0) return;
  const std::string location = FullText(where.site);
  std::string warning = "lazyplus: " + location + " has synced " + std::to_string(graphs_here) +
                        " distinct graphs, each compiled anew; torch_lazyplus.debug.explain() shows where they differ";
  Log(s, {{"warning", "many graphs", location, warning, graph.hash}});
  TORCH_WARN(warning);
}

void OnFallback(const std::string& op, bool data_dependent, const CapturedSource& where) {
  State& s = S();
  Log(s, {{"fallback", data_dependent ? "data-dependent shape" : "no lazy kernel", FullText(where.site), op, 0}});
}

void OnTransfer(int64_t ns) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mutex);
  auto it = s.stats.find(s.last_graph);
  if (it != s.stats.end()) it->second.transfer_ns += ns;
}

std::vector<Event> Events() {
  State& s = S();
  std::deque<Logged> logged;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    logged = s.events;
  }
  std::vector<Event> out;
  out.reserve(logged.size());
  for (const Logged& l : logged) out.push_back(Formatted(l));
  return out;
}

std::vector<GraphStats> Graphs() {
  State& s = S();
  std::vector<GraphStats> out;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    for (hash_t h : s.stats_order) out.push_back(s.stats.at(h));
  }
  for (GraphStats& g : out) g.location = FullText(g.first_site);
  return out;
}

void Clear() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.events.clear();
  s.compiled.clear();
  s.stats.clear();
  s.stats_order.clear();
  s.graphs_per_site.clear();
  s.warned_sites.clear();
  s.last_graph = 0;
}

void SetPrinting(bool on) { S().printing = on ? 1 : 0; }

int64_t SetMaxGraphsPerSite(int64_t n) { return std::exchange(S().max_graphs_per_site, n); }

}  // namespace lazyplus::explain
