#include "runtime/pickle_scan.h"

#include <cstdint>
#include <cstring>

#include <c10/util/StringUtil.h>

namespace lazyplus {
namespace {

uint64_t LittleEndian(const char* p, size_t bytes) {
  uint64_t value = 0;
  std::memcpy(&value, p, bytes);  // x86 and arm64 are little-endian, as pickle is
  return value;
}

// Bytes of argument that follow each opcode torch's Pickler writes (protocol 2); -1: one it never
// writes. Arguments of variable length (GLOBAL's lines, LONG1's and BINUNICODE's counted bytes) apart.
int FixedArgumentBytes(unsigned char op) {
  switch (op) {
    case '(': case '.': case 't': case ')': case 0x85: case 0x86: case 0x87: case ']': case 'a': case 'e':
    case '}': case 's': case 'u': case 'N': case 0x88: case 0x89: case 'R': case 'b': case 'Q': case 0x81:
      return 0;
    case 0x80: case 'K': case 'q': case 'h':
      return 1;
    case 'M':
      return 2;
    case 'J': case 'r': case 'j':
      return 4;
    case 'G':
      return 8;
    default:
      return -1;
  }
}

}  // namespace

std::string PickleProblem(const char* pickle, size_t size) {
  size_t at = 0, memo = 0;
  while (at < size) {
    const size_t op_at = at;
    const auto op = static_cast<unsigned char>(pickle[at++]);
    const size_t left = size - at;
    size_t argument = 0;  // bytes after the opcode
    if (op == 'c') {      // GLOBAL: module and name, one line each
      const char* first = static_cast<const char*>(std::memchr(pickle + at, '\n', left));
      const char* second = first ? static_cast<const char*>(std::memchr(first + 1, '\n', pickle + size - first - 1))
                                 : nullptr;
      if (!second) return c10::str("GLOBAL at byte ", op_at, " runs past the end");
      argument = second + 1 - (pickle + at);
    } else if (op == 0x8a || op == 'X') {  // LONG1, BINUNICODE: a count of bytes, then the bytes
      const size_t count_bytes = op == 0x8a ? 1 : 4;
      if (left < count_bytes) return c10::str("opcode ", int(op), " at byte ", op_at, " runs past the end");
      argument = count_bytes + LittleEndian(pickle + at, count_bytes);
    } else {
      const int fixed = FixedArgumentBytes(op);
      if (fixed < 0) return c10::str("byte ", op_at, " is opcode ", int(op), ", which torch's pickler never writes");
      argument = fixed;
    }
    if (argument > left) return c10::str("opcode ", int(op), " at byte ", op_at, " runs past the end");
    if (op == 'q' || op == 'r' || op == 'h' || op == 'j') {  // memo PUT or GET
      const uint64_t index = LittleEndian(pickle + at, op == 'q' || op == 'h' ? 1 : 4);
      const bool put = op == 'q' || op == 'r';
      if (put ? index > memo : index >= memo)
        return c10::str("byte ", op_at, " names memo entry ", index, " of ", memo);
      memo += put && index == memo;
    }
    at += argument;
    if (op == '.') return at == size ? "" : c10::str("bytes follow STOP at byte ", op_at);
  }
  return "it ends before its STOP";
}

}  // namespace lazyplus
