// Hand-written cases: arithmetic, logic, INC/DEC/NEG/NOT, MUL/IMUL/DIV/IDIV
// (including #DE), sign extensions. Flag rules: Intel SDM vol. 2, each
// instruction's "Flags Affected".
#include "tcg/difftest/cases.h"

namespace skiff::tcg::difftest {
namespace {

constexpr uint32_t kMulUndef = kSf | kZf | kAf | kPf;

}  // namespace

std::vector<CaseSpec> AluCases() {
  return {
      {"add/sub regs all sizes",
       "add rax, rcx\nadd edx, esi\nsub di, r8w\nadd r9b, r10b\nsub ah, cl", 0,
       8},
      {"add overflow edges",
       "mov rax, 0x7fffffffffffffff\nadd rax, 1\nmov ecx, 0x7fffffff\nadd "
       "ecx, 1\nmov dx, 0xffff\nadd dx, 1\nmov sil, 0x7f\nadd sil, 1",
       0, 2},
      {"sub borrow edges",
       "xor eax, eax\nsub rax, 1\nmov ecx, 0x80000000\nsub ecx, 1\nmov "
       "r8b, 0x80\nsub r8b, 1",
       0, 2},
      {"cmp all forms",
       "cmp rax, rcx\ncmp eax, 0x12345678\ncmp cx, -1\ncmp byte [rbx], "
       "0x80\ncmp [rbx+8], rdx\ncmp al, 0x7f",
       0, 8},
      {"adc/sbb chains",
       "add rax, rcx\nadc rdx, rsi\nadc edi, 0\nsbb r8, r9\nsbb r10d, "
       "-1\nadc r11b, r12b\nsbb ax, 0x7fff",
       0, 8},
      {"adc/sbb with cf in",
       "stc\nadc rax, rcx\nstc\nsbb edx, esi\nclc\nadc di, 1", 0, 8},
      {"logic ops",
       "and rax, rcx\nor edx, esi\nxor di, r8w\nand r9b, 0x0f\nor r10, "
       "-2\nxor r11d, 0x80000000\ntest rax, rdx\ntest cl, 0x81",
       kAf, 8},
      {"xor self zero-extends", "xor eax, eax\nxor r8d, r8d\nsub ecx, ecx", kAf,
       2},
      {"32-bit ops zero-extend",
       "add eax, 0\nor ecx, 0\nmov edx, edx\nneg esi\nnot edi\ninc r8d\ndec "
       "r9d",
       0, 4},
      {"16/8-bit ops preserve upper bits",
       "add ax, 1\nor cl, 0xff\nmov dx, 0x1234\nneg sil\nnot di\ninc r8w\ndec "
       "r9b\nmov ah, 0x55\nadd bh, 0",
       0, 4},
      {"inc/dec keep cf",
       "stc\ninc rax\ndec ecx\nclc\ninc dx\ndec r8b\nmov esi, 0x7fffffff\ninc "
       "esi\nmov edi, 0x80000000\ndec edi",
       0, 4},
      {"neg edges",
       "xor eax, eax\nneg rax\nmov rcx, 0x8000000000000000\nneg rcx\nmov "
       "dl, 0x80\nneg dl\nneg r8w",
       0, 4},
      {"memory rmw forms",
       "add [rbx], rax\nsub dword [rbx+4], 7\nadc word [rbx+16], cx\nand "
       "byte [rbx-1], 0xf0\nor qword [rbx+0x100], -1\nxor [rbx+8], esi\ninc "
       "qword [rbx+24]\ndec byte [rbx+32]\nneg word [rbx+40]\nnot dword "
       "[rbx+44]",
       kAf, 4},
      {"lock rmw forms",
       "lock add [rbx], rax\nlock sub dword [rbx+4], 7\nlock adc [rbx+8], "
       "cx\nlock or byte [rbx+1], 0x81\nlock inc qword [rbx+24]\nlock neg "
       "dword [rbx+40]\nlock not byte [rbx+3]",
       0, 4},
      {"lock on register #UD", "lock add eax, ecx", 0, 1},
      {"mul all sizes",
       "mul rcx\nmov r8, rax\nmul esi\nmov r9, rdx\nmul di\nmul r10b",
       kMulUndef, 8},
      {"mul edges",
       "mov rax, -1\nmov rcx, -1\nmul rcx\nmov eax, 0x10000\nmov ecx, "
       "0x10000\nmul ecx\nmov al, 16\nmov cl, 16\nmul cl",
       kMulUndef, 2},
      {"imul one operand",
       "imul rcx\nimul esi\nimul di\nimul r10b\nimul qword [rbx]", kMulUndef,
       8},
      {"imul two and three operands",
       "imul rax, rcx\nimul edx, esi, 0x12345\nimul di, r8w, -3\nimul r9, "
       "[rbx], 7\nimul r10d, [rbx+8]",
       kMulUndef, 8},
      {"imul overflow edges",
       "mov rax, 0x8000000000000000\nimul rax, rax, -1\nmov ecx, "
       "0x40000000\nimul ecx, ecx, 2\nmov dx, 0x100\nimul dx, dx",
       kMulUndef, 2},
      {"div all sizes",
       "xor edx, edx\nmov ecx, 7\ndiv rcx\nxor edx, edx\ndiv ecx\nxor edx, "
       "edx\nmov si, 3\ndiv si\nmov ax, 1000\nmov dil, 10\ndiv dil",
       kStatusFlags, 4},
      {"idiv signs",
       "mov rax, -100\ncqo\nmov rcx, 7\nidiv rcx\nmov eax, 100\ncdq\nmov "
       "esi, -7\nidiv esi\nmov ax, -1000\ncwd\nmov r8w, 3\nidiv r8w\nmov ax, "
       "-100\nmov r9b, -7\nidiv r9b",
       kStatusFlags, 2},
      {"div by zero #DE", "xor ecx, ecx\ndiv ecx", kStatusFlags, 2},
      {"div overflow #DE", "mov edx, 1\nmov ecx, 1\ndiv ecx", kStatusFlags, 2},
      {"div8 overflow #DE", "mov ax, 0x1000\nmov cl, 2\ndiv cl", kStatusFlags,
       1},
      {"idiv int_min/-1 #DE",
       "mov rax, 0x8000000000000000\ncqo\nmov rcx, -1\nidiv rcx", kStatusFlags,
       1},
      {"idiv32 int_min/-1 #DE",
       "mov eax, 0x80000000\ncdq\nmov ecx, -1\nidiv ecx", kStatusFlags, 1},
      {"div memory operand",
       "xor edx, edx\nmov dword [rbx], 13\ndiv dword [rbx]", kStatusFlags, 2},
      {"cbw cwde cdqe cwd cdq cqo",
       "cbw\nmov r8, rax\ncwde\nmov r9, rax\ncdqe\ncwd\nmov r10, rdx\ncdq\nmov "
       "r11, rdx\ncqo",
       0, 8},
      {"cmc clc stc", "cmc\nsetc al\nclc\nsetc cl\nstc\nsetc dl\ncmc", 0, 4},
  };
}

}  // namespace skiff::tcg::difftest
