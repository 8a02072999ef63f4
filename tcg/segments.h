// Segment-register loads and far control transfers (Intel SDM vol. 3,
// chapter 5 and vol. 2 JMP/CALL/RET/IRET), shared by ops_control.cc,
// ops_system.cc and interrupts.cc. Real mode loads set base = selector << 4;
// protected and long mode read the GDT/LDT descriptor with the checks the
// common cases need (present, type, privilege).
//
//   if (!LoadDataSegment(c, kDs, selector)) return ExecStatus::kFault;
#ifndef SKIFF_TCG_SEGMENTS_H_
#define SKIFF_TCG_SEGMENTS_H_

#include <cstdint>

#include "tcg/cpu.h"

namespace skiff::tcg {

// Reads the 8-byte descriptor for `sel` (and the next 8 bytes for system
// descriptors in long mode when `hi` is non-null). #GP(sel) when outside the
// table.
bool ReadDescriptor(Cpu& c, uint16_t sel, uint64_t* lo, uint64_t* hi);
// Unpacks a code/data descriptor into the hidden segment state.
Segment SegmentFromDescriptor(uint64_t desc, uint16_t sel);
// MOV/POP to DS ES FS GS SS (SS additionally checks RPL = DPL = CPL).
bool LoadDataSegment(Cpu& c, int seg, uint16_t sel);
// Loads CS for a far JMP/CALL/RET/IRET to privilege `new_cpl` (CPL for
// JMP/CALL, RPL of the popped selector for returns) and updates the mode.
bool LoadCodeSegment(Cpu& c, uint16_t sel, int new_cpl);
// A null SS for long-mode privilege changes (SS = new_cpl, unusable).
void LoadNullSs(Cpu& c, int rpl);

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_SEGMENTS_H_
