#include "tcg/segments.h"

namespace skiff::tcg {

bool ReadDescriptor(Cpu& c, uint16_t sel, uint64_t* lo, uint64_t* hi) {
  const DescriptorTable table =
      (sel & 4)
          ? DescriptorTable{c.s.ldt.base, static_cast<uint16_t>(c.s.ldt.limit)}
          : c.s.gdt;
  const uint32_t index = sel & 0xfff8;
  const uint32_t need = hi != nullptr ? 15 : 7;
  if ((sel & 4) && c.s.ldt.unusable) {
    c.pending_fault = {kGp, true, static_cast<uint32_t>(sel & 0xfffc)};
    return false;
  }
  if (index + need > table.limit) {
    c.pending_fault = {kGp, true, static_cast<uint32_t>(sel & 0xfffc)};
    return false;
  }
  if (!c.ReadLin(table.base + index, 8, lo, false)) return false;
  if (hi != nullptr && !c.ReadLin(table.base + index + 8, 8, hi, false)) {
    return false;
  }
  return true;
}

Segment SegmentFromDescriptor(uint64_t d, uint16_t sel) {
  Segment s{};
  s.selector = sel;
  s.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
  uint32_t limit = static_cast<uint32_t>((d & 0xffff) | ((d >> 32) & 0xf0000));
  s.g = (d >> 55) & 1;
  if (s.g) limit = (limit << 12) | 0xfff;
  s.limit = limit;
  s.type = (d >> 40) & 0xf;
  s.s = (d >> 44) & 1;
  s.dpl = (d >> 45) & 3;
  s.present = (d >> 47) & 1;
  s.avl = (d >> 52) & 1;
  s.l = (d >> 53) & 1;
  s.db = (d >> 54) & 1;
  s.unusable = 0;
  return s;
}

bool LoadDataSegment(Cpu& c, int seg, uint16_t sel) {
  CpuState& s = c.s;
  if (!s.protected_mode) {
    s.seg[seg].selector = sel;
    s.seg[seg].base = static_cast<uint64_t>(sel) << 4;
    return true;
  }
  const uint32_t err = sel & 0xfffc;
  if ((sel & 0xfffc) == 0) {
    if (seg == kSs && !(s.code_bits == 64 && s.cpl < 3 && (sel & 3) == s.cpl)) {
      c.pending_fault = {kGp, true, 0};
      return false;
    }
    // A null selector makes the register unusable (Intel zeroes the base).
    s.seg[seg] = Segment{};
    s.seg[seg].selector = sel;
    s.seg[seg].unusable = 1;
    if (seg == kSs) s.seg[seg].dpl = s.cpl;
    return true;
  }
  uint64_t d;
  if (!ReadDescriptor(c, sel, &d, nullptr)) return false;
  Segment n = SegmentFromDescriptor(d, sel);
  const bool code = n.type & 8;
  const int rpl = sel & 3;
  if (!n.s) {
    c.pending_fault = {kGp, true, err};
    return false;
  }
  if (seg == kSs) {
    if (code || !(n.type & 2) || rpl != s.cpl || n.dpl != s.cpl) {
      c.pending_fault = {kGp, true, err};
      return false;
    }
  } else if (code && !(n.type & 2)) {  // execute-only code
    c.pending_fault = {kGp, true, err};
    return false;
  }
  if (!n.present) {
    c.pending_fault = {static_cast<uint8_t>(seg == kSs ? kStackFault : kNp),
                       true, err};
    return false;
  }
  s.seg[seg] = n;
  return true;
}

bool LoadCodeSegment(Cpu& c, uint16_t sel, int new_cpl) {
  CpuState& s = c.s;
  const uint32_t err = sel & 0xfffc;
  if (err == 0) {
    c.pending_fault = {kGp, true, 0};
    return false;
  }
  uint64_t d;
  if (!ReadDescriptor(c, sel, &d, nullptr)) return false;
  Segment n = SegmentFromDescriptor(d, sel);
  const bool conforming = n.type & 4;
  if (!n.s || !(n.type & 8) ||
      (conforming ? n.dpl > new_cpl : n.dpl != new_cpl) ||
      (s.long_mode && n.l && n.db)) {
    c.pending_fault = {kGp, true, err};
    return false;
  }
  if (!n.present) {
    c.pending_fault = {kNp, true, err};
    return false;
  }
  n.selector = static_cast<uint16_t>((sel & 0xfffc) | new_cpl);
  s.seg[kCs] = n;
  c.UpdateMode();
  return true;
}

void LoadNullSs(Cpu& c, int rpl) {
  Segment& ss = c.s.seg[kSs];
  ss = Segment{};
  ss.selector = static_cast<uint16_t>(rpl);
  ss.dpl = static_cast<uint8_t>(rpl);
  ss.unusable = 1;
}

}  // namespace skiff::tcg
