// Hand-written cases: shifts and rotates (counts 0, 1, width-1, width, 64+,
// RCL/RCR modulo 9/17), SHLD/SHRD, BT*, BSF/BSR (zero input), POPCNT,
// LZCNT/TZCNT, BSWAP. Undefined flags per Intel SDM vol. 2: shifts leave AF
// undefined and OF undefined unless the masked count is 1; SHL/SHR leave CF
// undefined when count >= width; BT* leave OF SF AF PF undefined; BSF/BSR
// all but ZF; LZCNT/TZCNT OF SF AF PF.
#include "tcg/difftest/cases.h"

namespace skiff::tcg::difftest {
namespace {

constexpr uint32_t kShiftUndef = kAf | kOf;
constexpr uint32_t kBtUndef = kOf | kSf | kAf | kPf;

}  // namespace

std::vector<CaseSpec> BitCases() {
  using N = CaseSpec::Needs;
  return {
      {"shl by 1", "shl rax, 1\nshl ecx, 1\nshl dx, 1\nshl sil, 1", kAf, 8},
      {"shr by 1", "shr rax, 1\nshr ecx, 1\nshr dx, 1\nshr sil, 1", kAf, 8},
      {"sar by 1", "sar rax, 1\nsar ecx, 1\nsar dx, 1\nsar sil, 1", kAf, 8},
      {"shifts by 0 keep flags",
       "shl rax, 0\nmov cl, 0\nshr edx, cl\nsar si, cl\nrol dil, cl\nrcr r8, "
       "cl",
       0, 4},
      {"shift count masked 32/64",
       "mov cl, 32\nshl eax, cl\nmov cl, 64\nshl rdx, cl\nmov cl, 33\nshr "
       "esi, cl\nmov cl, 65\nsar rdi, cl",
       kShiftUndef, 4},
      {"shl 31 and 63", "shl eax, 31\nshl rcx, 63\nshr edx, 31\nsar rsi, 63",
       kShiftUndef, 8},
      {"shl8 by 8 and more (cf undefined)",
       "shl al, 8\nshr cl, 9\nshl dx, 16\nshr si, 17", kShiftUndef | kCf, 4},
      {"sar8/16 by width and more",
       "sar al, 8\nsar cl, 9\nsar dx, 16\nsar si, 31", kShiftUndef, 4},
      {"shifts by cl random", "shl rax, cl\nshr edx, cl\nsar si, cl",
       kShiftUndef | kCf, 8},
      {"shift memory",
       "shl qword [rbx], 3\nshr dword [rbx+8], 1\nsar word [rbx+16], cl\nshl "
       "byte [rbx+3], 7",
       kShiftUndef | kCf, 4},
      {"rol/ror by 1", "rol rax, 1\nror ecx, 1\nrol dx, 1\nror sil, 1", 0, 8},
      {"rol/ror by n",
       "rol rax, 5\nror ecx, 31\nrol dx, 15\nror sil, 7\nrol rdi, 63", kOf, 8},
      {"rol8/16 by width multiple",
       "rol al, 8\nror cx, 16\nrol dl, 16\nror si, 32", kOf, 4},
      {"rcl/rcr by 1", "rcl rax, 1\nrcr ecx, 1\nrcl dx, 1\nrcr sil, 1", 0, 8},
      {"rcl/rcr by n", "rcl rax, 5\nrcr ecx, 31\nrcl r8, 63\nrcr edi, 17", kOf,
       8},
      {"rcl8/rcr8 modulo 9", "rcl al, 9\nrcr cl, 10\nrcl dl, 18\nrcr sil, 31",
       kOf, 8},
      {"rcl16/rcr16 modulo 17", "rcl ax, 17\nrcr cx, 18\nrcl dx, 31", kOf, 8},
      {"rotate memory",
       "rol qword [rbx], 3\nrcr dword [rbx+8], 1\nror word "
       "[rbx+16], cl",
       kOf, 4},
      {"shld/shrd",
       "shld rax, rcx, 5\nshrd edx, esi, 31\nshld di, r8w, 3\nshrd r9, r10, "
       "63\nshld r11d, eax, 1",
       kShiftUndef, 8},
      {"shld/shrd by cl",
       "and cl, 15\nshld rax, rdx, cl\nshrd si, di, cl\nshld [rbx], r8d, cl",
       kShiftUndef, 8},
      {"shift double by 0 (shld/shrd)", "shld rax, rcx, 0\nshrd edx, esi, 0", 0,
       2},
      {"shld/shrd 32-bit by 32+ (masked)",
       "shld eax, ecx, 33\nshrd edx, esi, 63", kShiftUndef, 4},
      {"bt/bts/btr/btc reg",
       "bt rax, rcx\nbts edx, esi\nbtr di, r8w\nbtc r9, 63\nbt r10d, 31\nbts "
       "r11w, 15",
       kBtUndef, 8},
      {"bt mem with imm",
       "bt qword [rbx], 5\nbts dword [rbx+4], 31\nbtr word "
       "[rbx+8], 17\nbtc qword [rbx+16], 70",
       kBtUndef, 4},
      {"bt mem with reg offset",
       "mov rcx, 100\nbt [rbx], rcx\nmov rdx, -9\nbts [rbx], rdx\nmov esi, "
       "1000\nbtr [rbx], esi\nmov di, -20\nbtc [rbx], di",
       kBtUndef, 4},
      {"lock bts", "lock bts qword [rbx], 7\nlock btc dword [rbx+4], ecx",
       kBtUndef, 4},
      {"bsf/bsr", "bsf rax, rcx\nbsr edx, esi\nbsf di, r8w\nbsr r9, [rbx]",
       kCf | kOf | kSf | kAf | kPf, 8},
      {"bsf/bsr zero source keeps destination",
       "xor ecx, ecx\nbsf rax, rcx\nbsr rdx, rcx\nbsf esi, ecx\nbsr di, cx",
       kCf | kOf | kSf | kAf | kPf, 4},
      {"popcnt",
       "popcnt rax, rcx\npopcnt edx, esi\npopcnt di, r8w\npopcnt "
       "r9, [rbx]",
       0, 8, N::kPopcnt},
      {"popcnt zero", "xor ecx, ecx\npopcnt rax, rcx", 0, 2, N::kPopcnt},
      {"lzcnt",
       "lzcnt rax, rcx\nlzcnt edx, esi\nlzcnt di, r8w\nxor ecx, "
       "ecx\nlzcnt r9, rcx",
       kOf | kSf | kAf | kPf, 8, N::kLzcnt},
      {"tzcnt",
       "tzcnt rax, rcx\ntzcnt edx, esi\ntzcnt di, r8w\nxor ecx, "
       "ecx\ntzcnt r9, rcx",
       kOf | kSf | kAf | kPf, 8, N::kTzcnt},
      {"bswap", "bswap rax\nbswap ecx\nbswap r8\nbswap r15d", 0, 4},
  };
}

}  // namespace skiff::tcg::difftest
