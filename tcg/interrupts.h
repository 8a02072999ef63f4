// Exception and interrupt delivery (Intel SDM vol. 3, chapter 6): the 64-bit
// IDT with IST and TSS RSPn stacks, 32-bit protected-mode gates and the
// real-mode IVT; double-fault and triple-fault escalation.
//
//   // in the main loop, after a handler returned kFault:
//   if (!DeliverFault(cpu)) return VcpuExit{.kind = kShutdown};
#ifndef SKIFF_TCG_INTERRUPTS_H_
#define SKIFF_TCG_INTERRUPTS_H_

#include <cstdint>

#include "tcg/cpu.h"

namespace skiff::tcg {

// Delivers one event through the IDT. `soft` for INT n / INT3 / INTO (gate
// DPL is checked against CPL), `return_rip` is the RIP pushed on the stack.
// On success RIP, CS, RSP, RFLAGS point into the handler. Returns false
// with c.pending_fault set if the delivery itself faulted; architectural
// registers are then unchanged.
bool DeliverEvent(Cpu& c, uint8_t vector, bool has_error, uint32_t error,
                  bool soft, uint64_t return_rip);

// Delivers c.pending_fault for the instruction at c.s.rip, escalating to #DF
// per SDM table 6-5. Returns false on a triple fault (shutdown).
bool DeliverFault(Cpu& c);

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_INTERRUPTS_H_
