// Helpers shared by the ops_*.cc handler files: read-modify-write of the
// ModRM operand or of seg:off (a real host atomic under LOCK), and flag
// utilities.
//
//   return RmwRm(c, i, i.opsize, [&](uint64_t v) { return Alu(c, op, sz, v, b);
//   });
#ifndef SKIFF_TCG_OPS_UTIL_H_
#define SKIFF_TCG_OPS_UTIL_H_

#include <cstdint>
#include <cstring>

#include "tcg/cpu.h"
#include "tcg/flags.h"

namespace skiff::tcg {

// 128-bit integers (GCC/Clang extension) for MUL/DIV and CMPXCHG16B.
__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 s128;

// LOCK CMPXCHG16B on host memory (16-byte aligned). Inline assembly, since
// GCC routes 16-byte __atomic builtins to libatomic.
inline bool HostCas16(void* p, uint64_t* lo, uint64_t* hi, uint64_t new_lo,
                      uint64_t new_hi) {
  struct alignas(16) Pair {
    uint64_t lo, hi;
  };
  bool ok;
  asm volatile("lock cmpxchg16b %1"
               : "=@ccz"(ok), "+m"(*static_cast<Pair*>(p)), "+a"(*lo), "+d"(*hi)
               : "b"(new_lo), "c"(new_hi)
               : "memory");
  return ok;
}

template <typename T, typename F>
void CasLoop(uint8_t* host, F& f) {
  T* p = reinterpret_cast<T*>(host);
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  for (;;) {
    const T nv = static_cast<T>(f(static_cast<uint64_t>(old)));
    if (__atomic_compare_exchange_n(p, &old, nv, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_RELAXED)) {
      return;
    }
  }
}

// Applies new = f(old) to the `size` bytes at seg:off (address-size wrap
// already applied). With `atomic` (LOCK prefix, or XCHG with memory) on
// naturally aligned guest RAM, this is a host compare-and-swap loop so other
// vCPU threads observe one atomic update; `f` may then run more than once
// and must only depend on `old`. Misaligned, page-splitting or MMIO operands
// fall back to read-then-write.
template <typename F>
ExecStatus RmwMem(Cpu& c, int seg, uint64_t off, int size, F& f, bool atomic) {
  // Translate for writing before reading: a read-modify-write faults as a
  // write (#PF error code W=1 even when the page is not present).
  uint8_t* h;
  if (!c.HostPtrForRmw(seg, off, size, &h)) return ExecStatus::kFault;
  if (h != nullptr && !atomic) {
    uint64_t v = 0;
    std::memcpy(&v, h, static_cast<size_t>(size));
    v = f(v);
    std::memcpy(h, &v, static_cast<size_t>(size));
    return ExecStatus::kNext;
  }
  if (atomic) {
    if (h != nullptr && (reinterpret_cast<uintptr_t>(h) & (size - 1)) == 0) {
      switch (size) {
        case 1:
          CasLoop<uint8_t>(h, f);
          break;
        case 2:
          CasLoop<uint16_t>(h, f);
          break;
        case 4:
          CasLoop<uint32_t>(h, f);
          break;
        default:
          CasLoop<uint64_t>(h, f);
          break;
      }
      return ExecStatus::kNext;
    }
  }
  uint64_t v;
  if (!c.Read(seg, off, size, &v)) return ExecStatus::kFault;
  if (!c.Write(seg, off, size, f(v))) return ExecStatus::kFault;
  return ExecStatus::kNext;
}

// RmwMem on the ModRM operand (or its register), atomic also under LOCK.
template <typename F>
ExecStatus RmwRm(Cpu& c, const Insn& i, int size, F f, bool atomic = false) {
  if (i.mod == 3) {
    const uint64_t v = size == 1 ? c.Reg8(i.rm, i.rex) : c.Reg(i.rm, size);
    c.WriteRm(i, size, f(v));
    return ExecStatus::kNext;
  }
  return RmwMem(c, i.seg, c.EffAddr(i), size, f, atomic || i.lock);
}

// Port I/O through the VcpuIo of the running Run() call. Reads of ports
// nobody decodes return all ones (VcpuIo contract).
inline uint64_t PortIn(Cpu& c, uint16_t port, int size) {
  uint64_t v = ~0ull;
  if (c.io != nullptr) {
    c.io->PioRead(port, absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), size));
  }
  return v & SizeMask(size);
}
inline void PortOut(Cpu& c, uint16_t port, int size, uint64_t v) {
  if (c.io != nullptr) {
    c.io->PioWrite(port,
                   absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&v), size));
  }
}
// IN/OUT/INS/OUTS privilege (Intel SDM vol. 1, 19.5): allowed in real mode
// or when CPL <= IOPL; otherwise only when the bits of every accessed port
// are clear in the TSS's I/O permission bitmap. Returns kNext when allowed,
// kFault when reading the bitmap faulted, and #GP(0) otherwise.
ExecStatus CheckIoPermission(Cpu& c, uint16_t port, int size);

// SF ZF PF of a result (CF OF AF cleared), for eagerly computed flags.
inline uint64_t SzpFlags(uint64_t res, int size) {
  const uint64_t r = res & SizeMask(size);
  uint64_t f = 0;
  if (r == 0) f |= kFlagZf;
  if (r >> (size * 8 - 1)) f |= kFlagSf;
  if (Parity(r)) f |= kFlagPf;
  return f;
}

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_OPS_UTIL_H_
