// Decode-time specialisation for the block cache (block_cache.h): hot
// instruction forms (register/register ALU ops per operand size, shifts by
// an immediate, INC/DEC, MOV/LEA, 64-bit loads and stores with a base
// register, ALU and TEST with a memory destination, MOVZX and MOVSXD
// loads, byte-register TEST/ALU with an immediate, SETcc and CMOVcc on
// registers, PUSH/POP/CALL/RET and Jcc in 64-bit code) get handlers with no
// switch on size, mod or condition. The specialised handlers have exactly
// the architectural effect of the generic ones in ops_*.cc (same lazy-flag
// state too), so which one runs is unobservable.
//
//   Insn insn;  // from Decode()
//   const bool last = EndsBlock(insn);  // before specialising
//   insn.fn = SpecializeHandler(&insn, code_bits);
#ifndef SKIFF_TCG_OPS_FAST_H_
#define SKIFF_TCG_OPS_FAST_H_

#include "tcg/cpu.h"

namespace skiff::tcg {

// A faster handler with the same effect as `i->fn` for this decoded
// instruction, or `i->fn` itself. May normalise fields only the specialised
// handler reads (a shift count into `imm`), so apply it to a private copy.
Handler SpecializeHandler(Insn* i, int code_bits);

// For two adjacent specialised instructions of a 64-bit block, a handler
// that runs both (returning ExecStatus::kPair) in place of `first.fn`, or
// nullptr: a TEST or CMP followed by a Jcc. The second keeps its Insn.
Handler FuseWithJcc(const Insn& first, const Insn& next);

// True unless the instruction (with its generic handler in `i.fn`) is a
// plain data operation after which the next instruction of the same block
// may run without returning to the run loop: control transfers, anything
// that can change the mode, paging, segments, RFLAGS.IF/TF, an interrupt
// shadow, or does I/O ends a block.
bool EndsBlock(const Insn& i);

// A Jcc (generic handler in `i.fn`) whose specialised handler ends the
// block only when taken (Cpu::ExitBlock), so a block may go on past it.
bool JccContinuesBlock(const Insn& i, int code_bits);

// How a specialised handler forms a memory operand's linear address (64-bit
// code, 64-bit addressing): base + disp, RIP + disp (RIP the instruction's
// end), any base and index << scale + disp, or any of those (Cpu::EffAddr)
// plus the FS or GS base.
enum EaForm : uint8_t { kEaBase, kEaRip, kEaGeneric, kEaSeg };

// What a specialised handler does, for the block compiler (tcg/jit.h),
// which translates these forms into host code of the same effect. [mem] is
// the memory operand as `ea` forms it.
struct FastForm {
  enum Kind : uint8_t {
    kNone,
    kAluRmR,     // rm(register) op= reg, flags as AluOp (op: ModRM.reg ALU)
    kAluRRm,     // reg op= rm(register)
    kAluRmImm,   // rm(register) op= imm
    kAluAccImm,  // rax op= imm
    kTestRR,     // flags of rm & reg (bytes: AH..BH without REX)
    kTestImm,    // flags of rm(register) & imm, or of rax & imm (op 1)
    kMovRmR,     // rm = reg
    kMovRRm,     // reg = rm
    kMovRegImm,  // reg = imm
    kMovRmImm,   // rm = imm
    kLoad,       // reg = [mem]
    kStore,      // [mem] = reg
    kLea,        // reg = the address of [mem] (no segment base)
    kShiftImm,   // rm(register) shifted by imm (op: 4 SHL, 5 SHR, 7 SAR)
    kLoadExt,    // MOVZX/MOVSX reg, [mem] (op: bytes read | 4 signed)
    kAluRMem,    // reg op= [mem]
    kCmpMemR,    // flags of [mem] op reg, memory only read (op: 7 CMP, 4 TEST)
    kCmpMemImm,  // flags of [mem] op imm (op: 7 CMP, 4 TEST)
    kAluMemR,    // [mem] op= reg (not CMP)
    kAluMemImm,  // [mem] op= imm (not CMP)
    kIncDec,     // INC/DEC rm(register) (op: 0 INC, 1 DEC)
    kPush,       // PUSH reg (64-bit)
    kPop,        // POP reg (64-bit)
    kJcc,        // Jcc rel (64-bit; op: the condition)
    kJmpRel,     // JMP rel (64-bit)
    kCallRel,    // CALL rel (64-bit)
    kRet,        // RET (64-bit, no immediate)
  };
  Kind kind = kNone;
  uint8_t op = 0;
  uint8_t size = 0;
  EaForm ea = kEaBase;
};
// For a handler: the one that runs its instruction alone (for a fused
// pair's first, FuseWithJcc, the unfused handler; else itself) and the
// form that handler implements.
struct HandlerFacts {
  Handler alone;
  FastForm form;
};
HandlerFacts FactsOf(Handler h);

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_OPS_FAST_H_
