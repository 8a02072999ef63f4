// The x86 instruction decoder: prefixes, REX, opcode maps (one-byte, 0F,
// 0F38, 0F3A), ModRM/SIB/displacement/immediates, operand and address size.
// Table driven: each map is an OpTable of 256 OpEntry {handler, flags},
// built at compile time in decoder_tables.cc. An opcode with no handler
// decodes to OpUd, which raises #UD when executed.
//
//   Insn insn;
//   DecodeResult r = Decode(bytes, avail, /*code_bits=*/64, &insn);
//   if (r == DecodeResult::kOk) status = insn.fn(cpu, insn);
//
// Adding an instruction family: write its handlers in a new ops_<family>.cc,
// declare them in ops.h, and add them to the tables in decoder_tables.cc
// with the flags below describing the operands the decoder must consume.
#ifndef SKIFF_TCG_DECODER_H_
#define SKIFF_TCG_DECODER_H_

#include <array>
#include <cstdint>

#include "tcg/cpu.h"

namespace skiff::tcg {

// OpEntry::flags.
enum OpFlag : uint16_t {
  kOpModrm = 1 << 0,     // has a ModRM byte
  kOpImm8 = 1 << 1,      // 8-bit immediate (sign-extended into Insn::imm)
  kOpImmZ = 1 << 2,      // 16/32-bit immediate by operand size, sign-extended
  kOpImmV = 1 << 3,      // 16/32/64-bit immediate (MOV r, imm64)
  kOpImm16 = 1 << 4,     // 16-bit immediate, zero-extended (RET n)
  kOpByte = 1 << 5,      // byte operand size
  kOpDef64 = 1 << 6,     // 64-bit operand size by default in 64-bit mode
  kOpForce64 = 1 << 7,   // always 64-bit in 64-bit mode (near branches)
  kOpNo64 = 1 << 8,      // invalid (#UD) in 64-bit mode
  kOpLockable = 1 << 9,  // LOCK allowed (with a memory operand)
  kOpMoffs = 1 << 10,    // address-size offset into imm (MOV A0-A3)
  kOpFar = 1 << 11,      // ptr16:16/32 operand: offset in imm, selector imm2
  kOpEnter = 1 << 12,    // imm16 then imm8 (ENTER): imm and imm2
  kOpGroup3 = 1 << 13,   // F6/F7: immediate only for /0 and /1 (TEST)
  kOpGroup5 = 1 << 14,   // FF: /2 /4 forced 64, /6 default 64
};

struct OpEntry {
  Handler fn = nullptr;
  uint16_t flags = 0;
};
using OpTable = std::array<OpEntry, 256>;

// The four opcode maps (decoder_tables.cc).
const OpTable& OneByteTable();
const OpTable& TwoByteTable();
const OpTable& ThreeByte38Table();
const OpTable& ThreeByte3ATable();

enum class DecodeResult : uint8_t {
  kOk,
  kNeedMore,  // ran past `avail`: fetch more bytes and decode again
  kTooLong,   // more than 15 bytes: #GP(0)
};

// Decodes one instruction for a code segment of `code_bits` (16/32/64).
DecodeResult Decode(const uint8_t* bytes, int avail, int code_bits, Insn* out);

// Raises #UD: the handler for every opcode the tables leave empty.
ExecStatus OpUd(Cpu& c, const Insn& i);

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_DECODER_H_
