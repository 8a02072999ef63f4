// Zero-filled memory mapped from a memfd, so that the process's memory map
// names it: "/memfd:NAME (deleted)" in /proc/PID/maps and smaps, and in
// pmap. The VMM's large tables of its own (the interpreter's caches) are
// then told apart from the rest of a running VMM's memory, by skiff-bench's
// RSS breakdown or by a person with pmap. Pages become resident as they are
// touched, as anonymous memory's do. Where no memfd can be made, the memory
// is anonymous (unnamed) instead.
//
//   void* p = MapNamed("skiff-tcg-blocks", 3 << 20);  // nullptr: no memory
//   ...
//   UnmapNamed(p, 3 << 20);
#ifndef SKIFF_BASE_NAMED_MAPPING_H_
#define SKIFF_BASE_NAMED_MAPPING_H_

#include <cstddef>

namespace skiff {

// Read-write, shared, `size` bytes (rounded up to whole pages), page
// aligned. nullptr when neither a memfd nor anonymous memory could be
// mapped.
void* MapNamed(const char* name, size_t size);
// Unmaps what MapNamed(_, size) returned; nullptr is ignored.
void UnmapNamed(void* p, size_t size);

}  // namespace skiff

#endif  // SKIFF_BASE_NAMED_MAPPING_H_
