#include "tcg/flags.h"

namespace skiff::tcg {
namespace {

uint64_t Mask(int size) {
  return size == 8 ? ~0ull : ((1ull << (size * 8)) - 1);
}

bool CarryOf(const LazyFlags& lf, uint64_t m) {
  uint64_t a = lf.a & m, b = lf.b & m, r = lf.res & m;
  switch (lf.op) {
    case kCcAdd:
      return r < a;
    case kCcAdc:
      return lf.aux ? r <= a : r < a;
    case kCcSub:
      return a < b;
    case kCcSbb:
      return lf.aux ? a <= b : a < b;
    case kCcInc:
    case kCcDec:
      return lf.aux != 0;
    case kCcShift:
      return lf.aux & 1;
    default:
      return false;
  }
}

}  // namespace

uint64_t ComputeArithFlags(const LazyFlags& lf) {
  const uint64_t m = Mask(lf.size);
  const uint64_t sign = 1ull << (lf.size * 8 - 1);
  const uint64_t r = lf.res & m;
  uint64_t f = 0;
  if (CarryOf(lf, m)) f |= kFlagCf;
  if (Parity(r)) f |= kFlagPf;
  if (r == 0) f |= kFlagZf;
  if (r & sign) f |= kFlagSf;
  const uint64_t a = lf.a, b = lf.b;
  switch (lf.op) {
    case kCcAdd:
    case kCcAdc:
      if (((a ^ r) & (b ^ r)) & sign) f |= kFlagOf;
      if ((a ^ b ^ r) & 0x10) f |= kFlagAf;
      break;
    case kCcSub:
    case kCcSbb:
      if (((a ^ b) & (a ^ r)) & sign) f |= kFlagOf;
      if ((a ^ b ^ r) & 0x10) f |= kFlagAf;
      break;
    case kCcInc:
      if (r == sign) f |= kFlagOf;
      if ((r & 0xf) == 0) f |= kFlagAf;
      break;
    case kCcDec:
      if (r == sign - 1) f |= kFlagOf;
      if ((r & 0xf) == 0xf) f |= kFlagAf;
      break;
    case kCcShift:
      if (lf.aux & 2) f |= kFlagOf;
      break;
    default:
      break;
  }
  return f;
}

bool LazyCf(uint64_t rflags, const LazyFlags& lf) {
  if (lf.op == kCcNone) return rflags & kFlagCf;
  return CarryOf(lf, Mask(lf.size));
}

bool EvalCond(int cc, uint64_t rflags, const LazyFlags& lf) {
  bool r;
  // Fast paths for the common ZF/CF tests after arithmetic.
  if (lf.op != kCcNone && (cc >> 1) == 2) {
    r = (lf.res & Mask(lf.size)) == 0;
  } else {
    const uint64_t f = MaterializeFlags(rflags, lf);
    const bool of = f & kFlagOf, sf = f & kFlagSf, zf = f & kFlagZf,
               cf = f & kFlagCf, pf = f & kFlagPf;
    switch (cc >> 1) {
      case 0:
        r = of;
        break;
      case 1:
        r = cf;
        break;
      case 2:
        r = zf;
        break;
      case 3:
        r = cf || zf;
        break;
      case 4:
        r = sf;
        break;
      case 5:
        r = pf;
        break;
      case 6:
        r = sf != of;
        break;
      default:
        r = zf || (sf != of);
        break;
    }
  }
  return (cc & 1) ? !r : r;
}

}  // namespace skiff::tcg
