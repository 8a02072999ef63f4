// A minimal x86-64 instruction encoder for the random generator: legacy
// prefixes, REX, opcode bytes, ModRM/SIB/displacement and an immediate
// (Intel SDM vol. 2, chapter 2). It knows nothing about which opcodes
// exist; callers pick them.
//
//   Encoder e(&code);
//   e.Emit({.size = 8, .opcode = {0x01}, .reg = kRcx, .rm =
//   Operand::Reg(kRax)});
//   // 48 01 c8   add rax, rcx
#ifndef SKIFF_TCG_DIFFTEST_ENCODER_H_
#define SKIFF_TCG_DIFFTEST_ENCODER_H_

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace skiff::tcg::difftest {

struct Operand {
  bool mem = false;
  int reg = 0;     // register operand (mem == false)
  int base = -1;   // memory: base register, -1 none (absolute disp32)
  int index = -1;  // memory: index register (never RSP), -1 none
  int scale = 0;   // memory: log2 of the index scale
  int32_t disp = 0;

  static Operand Reg(int r) { return Operand{false, r}; }
  static Operand Mem(int base, int32_t disp, int index = -1, int scale = 0) {
    return Operand{true, 0, base, index, scale, disp};
  }
};

struct EncInsn {
  int size = 4;                 // operand size: 1, 2 (66), 4, 8 (REX.W)
  std::vector<uint8_t> opcode;  // e.g. {0x0f, 0xaf}
  uint8_t mandatory = 0;        // 0xf3 / 0xf2 prefix before REX
  bool has_modrm = true;
  int reg = 0;  // ModRM.reg (register or /digit)
  Operand rm;
  int opcode_reg = -1;  // register added to the last opcode
                        // byte (PUSH r, BSWAP r, MOV r, imm)
  uint64_t imm = 0;
  int imm_size = 0;        // 0, 1, 2, 4 or 8 bytes
  bool force_rex = false;  // REX 0x40 even when not needed (SPL..)
  bool addr32 = false;     // 0x67 prefix
  bool lock = false;       // 0xf0 prefix
};

class Encoder {
 public:
  explicit Encoder(std::vector<uint8_t>* out) : out_(out) {}
  void Emit(const EncInsn& insn);
  void Raw(std::initializer_list<uint8_t> bytes) {
    out_->insert(out_->end(), bytes);
  }
  // True when the instruction needs (or forces) a REX prefix, i.e. byte
  // registers 4..7 mean SPL..DIL rather than AH..BH.
  static bool HasRex(const EncInsn& insn);

 private:
  std::vector<uint8_t>* out_;
};

}  // namespace skiff::tcg::difftest

#endif  // SKIFF_TCG_DIFFTEST_ENCODER_H_
