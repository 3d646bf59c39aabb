#include "schedule/tile_slots.h"

#include <c10/util/Exception.h>

#include <algorithm>

namespace lazyplus {

// A register lives from its definition (inputs: loaded before the code runs) to its last read
// (outputs: stored after the code). Registers of one value (constants, scalars and what is computed
// from them alone) take no slot: the interpreter holds them apart, set once per task. A destination
// never takes the slot of an operand the same instruction frees, so every instruction reads operands
// that are intact.
void AssignSlots(TileProgram& p) {
  const int64_t end = static_cast<int64_t>(p.code.size());
  std::vector<int64_t> last(p.num_regs(), -1);
  for (int64_t i = 0; i < end; ++i) {
    for (int32_t r : {p.code[i].a, p.code[i].b, p.code[i].c}) {
      if (r >= 0) last[r] = i;
    }
  }
  for (const auto& o : p.outputs) last[o.reg] = end;

  p.slot.assign(p.num_regs(), -1);
  p.num_slots = 0;
  std::vector<int32_t> free_slots;
  std::vector<std::vector<int32_t>> dying(end + 1);  // per instruction: the registers it reads last
  auto take = [&](int32_t r, int64_t defined_at) {
    if (p.extent[r] == Extent::kOne) return;
    TORCH_INTERNAL_ASSERT(p.slot[r] < 0, "lazyplus: tile register ", r, " is defined twice");
    if (free_slots.empty()) {
      p.slot[r] = p.num_slots++;
    } else {
      p.slot[r] = free_slots.back();
      free_slots.pop_back();
    }
    if (last[r] < end) dying[std::max<int64_t>({last[r], defined_at, 0})].push_back(r);  // unread: freed at once
  };
  auto release = [&](int64_t i) {
    for (int32_t r : dying[i]) free_slots.push_back(p.slot[r]);
  };
  for (const auto& in : p.inputs) take(in.reg, -1);
  for (int64_t i = 0; i < end; ++i) {
    take(p.code[i].dst, i);
    release(i);
  }
}

}  // namespace lazyplus
