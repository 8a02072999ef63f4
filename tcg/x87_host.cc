#include "tcg/x87_host.h"

namespace skiff::tcg {
namespace {

// The guest control word with all exceptions masked (bits 0-5).
uint16_t Masked(uint16_t fcw) { return static_cast<uint16_t>(fcw | 0x3f); }

// Prologue/epilogue around one operation: save the host CW, clear host
// flags, load the guest CW; afterwards clear again and restore.
#define SKIFF_X87_PRE "fnstcw %[saved]\n\tfnclex\n\tfldcw %[cw]\n\t"
#define SKIFF_X87_POST "fnclex\n\tfldcw %[saved]\n\t"

// Two operands in (st0 = a, st1 = b), `n` results out.
#define SKIFF_X87_2_2(body)                                              \
  asm volatile(SKIFF_X87_PRE "fldt %[b]\n\tfldt %[a]\n\t" body           \
                             "\n\tfnstsw %[sw]\n\tfstpt %[o0]\n\tfstpt " \
                             "%[o1]\n\t" SKIFF_X87_POST                  \
               : [o0] "=m"(out[0]), [o1] "=m"(out[1]), [sw] "=m"(sw),    \
                 [saved] "=m"(saved)                                     \
               : [a] "m"(in0), [b] "m"(in1), [cw] "m"(cw))
#define SKIFF_X87_2_1(body)                                            \
  asm volatile(SKIFF_X87_PRE "fldt %[b]\n\tfldt %[a]\n\t" body         \
                             "\n\tfnstsw %[sw]\n\tfstpt "              \
                             "%[o0]\n\t" SKIFF_X87_POST                \
               : [o0] "=m"(out[0]), [sw] "=m"(sw), [saved] "=m"(saved) \
               : [a] "m"(in0), [b] "m"(in1), [cw] "m"(cw))
#define SKIFF_X87_2_3(body)                                               \
  asm volatile(SKIFF_X87_PRE "fldt %[b]\n\tfldt %[a]\n\t" body            \
                             "\n\tfnstsw %[sw]\n\tfstpt %[o0]\n\tfstpt "  \
                             "%[o1]\n\tfstpt %[o2]\n\t" SKIFF_X87_POST    \
               : [o0] "=m"(out[0]), [o1] "=m"(out[1]), [o2] "=m"(out[2]), \
                 [sw] "=m"(sw), [saved] "=m"(saved)                       \
               : [a] "m"(in0), [b] "m"(in1), [cw] "m"(cw))

}  // namespace

int X87OpStackDelta(X87Op op) {
  switch (op) {
    case X87Op::kYl2x:
    case X87Op::kYl2xp1:
    case X87Op::kPatan:
      return -1;
    case X87Op::kPtan:
    case X87Op::kSincos:
    case X87Op::kXtract:
      return 1;
    default:
      return 0;
  }
}

uint16_t HostX87(X87Op op, uint16_t fcw, const F80& in0, const F80& in1,
                 F80 out[3]) {
  const uint16_t cw = Masked(fcw);
  uint16_t sw = 0, saved;
  out[0] = in0;
  out[1] = in1;
  switch (op) {
    case X87Op::kAdd:
      SKIFF_X87_2_2("fadd %%st(1), %%st");
      break;
    case X87Op::kMul:
      SKIFF_X87_2_2("fmul %%st(1), %%st");
      break;
    case X87Op::kSub:
      SKIFF_X87_2_2("fsub %%st(1), %%st");
      break;
    case X87Op::kSubr:
      SKIFF_X87_2_2("fsubr %%st(1), %%st");
      break;
    case X87Op::kDiv:
      SKIFF_X87_2_2("fdiv %%st(1), %%st");
      break;
    case X87Op::kDivr:
      SKIFF_X87_2_2("fdivr %%st(1), %%st");
      break;
    case X87Op::kPrem:
      SKIFF_X87_2_2("fprem");
      break;
    case X87Op::kPrem1:
      SKIFF_X87_2_2("fprem1");
      break;
    case X87Op::kScale:
      SKIFF_X87_2_2("fscale");
      break;
    case X87Op::kSqrt:
      SKIFF_X87_2_2("fsqrt");
      break;
    case X87Op::kRndint:
      SKIFF_X87_2_2("frndint");
      break;
    case X87Op::kChs:
      SKIFF_X87_2_2("fchs");
      break;
    case X87Op::kAbs:
      SKIFF_X87_2_2("fabs");
      break;
    case X87Op::kF2xm1:
      SKIFF_X87_2_2("f2xm1");
      break;
    case X87Op::kSin:
      SKIFF_X87_2_2("fsin");
      break;
    case X87Op::kCos:
      SKIFF_X87_2_2("fcos");
      break;
    case X87Op::kCom:
      SKIFF_X87_2_2("fcom %%st(1)");
      break;
    case X87Op::kUcom:
      SKIFF_X87_2_2("fucom %%st(1)");
      break;
    case X87Op::kTst:
      SKIFF_X87_2_2("ftst");
      break;
    case X87Op::kXam:
      SKIFF_X87_2_2("fxam");
      break;
    case X87Op::kYl2x:
      SKIFF_X87_2_1("fyl2x");
      break;
    case X87Op::kYl2xp1:
      SKIFF_X87_2_1("fyl2xp1");
      break;
    case X87Op::kPatan:
      SKIFF_X87_2_1("fpatan");
      break;
    case X87Op::kPtan:
      SKIFF_X87_2_3("fptan");
      break;
    case X87Op::kSincos:
      SKIFF_X87_2_3("fsincos");
      break;
    case X87Op::kXtract:
      SKIFF_X87_2_3("fxtract");
      break;
  }
  return sw;
}

uint16_t HostLoadFloat(int size, uint64_t bits, uint16_t fcw, F80* out) {
  const uint16_t cw = Masked(fcw);
  uint16_t sw, saved;
  const uint32_t f32 = static_cast<uint32_t>(bits);
  if (size == 4) {
    asm volatile(SKIFF_X87_PRE
                 "flds %[in]\n\tfnstsw %[sw]\n\tfstpt %[o]\n\t" SKIFF_X87_POST
                 : [o] "=m"(*out), [sw] "=m"(sw), [saved] "=m"(saved)
                 : [in] "m"(f32), [cw] "m"(cw));
  } else {
    asm volatile(SKIFF_X87_PRE
                 "fldl %[in]\n\tfnstsw %[sw]\n\tfstpt %[o]\n\t" SKIFF_X87_POST
                 : [o] "=m"(*out), [sw] "=m"(sw), [saved] "=m"(saved)
                 : [in] "m"(bits), [cw] "m"(cw));
  }
  return sw;
}

uint16_t HostLoadInt(int size, uint64_t bits, uint16_t fcw, F80* out) {
  const uint16_t cw = Masked(fcw);
  uint16_t sw, saved;
  const uint16_t i16 = static_cast<uint16_t>(bits);
  const uint32_t i32 = static_cast<uint32_t>(bits);
  if (size == 2) {
    asm volatile(SKIFF_X87_PRE
                 "filds %[in]\n\tfnstsw %[sw]\n\tfstpt %[o]\n\t" SKIFF_X87_POST
                 : [o] "=m"(*out), [sw] "=m"(sw), [saved] "=m"(saved)
                 : [in] "m"(i16), [cw] "m"(cw));
  } else if (size == 4) {
    asm volatile(SKIFF_X87_PRE
                 "fildl %[in]\n\tfnstsw %[sw]\n\tfstpt %[o]\n\t" SKIFF_X87_POST
                 : [o] "=m"(*out), [sw] "=m"(sw), [saved] "=m"(saved)
                 : [in] "m"(i32), [cw] "m"(cw));
  } else {
    asm volatile(SKIFF_X87_PRE
                 "fildll %[in]\n\tfnstsw %[sw]\n\tfstpt %[o]\n\t" SKIFF_X87_POST
                 : [o] "=m"(*out), [sw] "=m"(sw), [saved] "=m"(saved)
                 : [in] "m"(bits), [cw] "m"(cw));
  }
  return sw;
}

uint16_t HostStoreFloat(int size, const F80& in, uint16_t fcw, uint64_t* bits) {
  const uint16_t cw = Masked(fcw);
  uint16_t sw, saved;
  if (size == 4) {
    uint32_t f32;
    asm volatile(SKIFF_X87_PRE
                 "fldt %[in]\n\tfstps %[o]\n\tfnstsw %[sw]\n\t" SKIFF_X87_POST
                 : [o] "=m"(f32), [sw] "=m"(sw), [saved] "=m"(saved)
                 : [in] "m"(in), [cw] "m"(cw));
    *bits = f32;
  } else {
    asm volatile(SKIFF_X87_PRE
                 "fldt %[in]\n\tfstpl %[o]\n\tfnstsw %[sw]\n\t" SKIFF_X87_POST
                 : [o] "=m"(*bits), [sw] "=m"(sw), [saved] "=m"(saved)
                 : [in] "m"(in), [cw] "m"(cw));
  }
  return sw;
}

uint16_t HostStoreInt(int size, bool trunc, const F80& in, uint16_t fcw,
                      uint64_t* bits) {
  const uint16_t cw = Masked(fcw);
  uint16_t sw, saved;
  uint16_t i16 = 0;
  uint32_t i32 = 0;
  uint64_t i64 = 0;
#define SKIFF_X87_ST(insn, var)                                         \
  asm volatile(SKIFF_X87_PRE "fldt %[in]\n\t" insn                      \
                             " %[o]\n\tfnstsw %[sw]\n\t" SKIFF_X87_POST \
               : [o] "=m"(var), [sw] "=m"(sw), [saved] "=m"(saved)      \
               : [in] "m"(in), [cw] "m"(cw))
  if (size == 2) {
    if (trunc) {
      SKIFF_X87_ST("fisttps", i16);
    } else {
      SKIFF_X87_ST("fistps", i16);
    }
    *bits = i16;
  } else if (size == 4) {
    if (trunc) {
      SKIFF_X87_ST("fisttpl", i32);
    } else {
      SKIFF_X87_ST("fistpl", i32);
    }
    *bits = i32;
  } else {
    if (trunc) {
      SKIFF_X87_ST("fisttpll", i64);
    } else {
      SKIFF_X87_ST("fistpll", i64);
    }
    *bits = i64;
  }
#undef SKIFF_X87_ST
  return sw;
}

uint16_t HostLoadConst(int k, uint16_t fcw, F80* out) {
  const uint16_t cw = Masked(fcw);
  uint16_t sw, saved;
#define SKIFF_X87_K(insn)                                           \
  asm volatile(SKIFF_X87_PRE insn                                   \
               "\n\tfnstsw %[sw]\n\tfstpt %[o]\n\t" SKIFF_X87_POST  \
               : [o] "=m"(*out), [sw] "=m"(sw), [saved] "=m"(saved) \
               : [cw] "m"(cw))
  switch (k) {
    case 0:
      SKIFF_X87_K("fld1");
      break;
    case 1:
      SKIFF_X87_K("fldl2t");
      break;
    case 2:
      SKIFF_X87_K("fldl2e");
      break;
    case 3:
      SKIFF_X87_K("fldpi");
      break;
    case 4:
      SKIFF_X87_K("fldlg2");
      break;
    case 5:
      SKIFF_X87_K("fldln2");
      break;
    default:
      SKIFF_X87_K("fldz");
      break;
  }
#undef SKIFF_X87_K
  return sw;
}

}  // namespace skiff::tcg
