// The seeded random generator of the differential harness: sequences of
// valid user-mode integer instructions (ALU, shifts/rotates, MUL/DIV, bit
// ops, MOV forms, CMOV/SETcc, XCHG/XADD/CMPXCHG, string ops with REP, stack
// ops, flag ops) with random registers and immediates and memory operands
// inside the data area (RBX- or RSP-relative; RBX and RSP are never written
// except implicitly by PUSH/POP). No control flow, privileged instructions,
// system calls, segment prefixes, x87 or SSE.
//
// The generator tracks which arithmetic flags are architecturally undefined
// after each instruction (Intel SDM vol. 2 "Flags Affected"; masked counts
// decide for shifts, so shift-by-CL is preceded by MOV CL, imm8) and
// records the mask at every instruction boundary in the Snippet. Before an
// instruction that reads an undefined flag (ADC, SETcc, PUSHF, LAHF, ...)
// it inserts a CMP that defines all six.
//
//   GeneratorOptions o;
//   o.features = CommonFeatures();
//   Snippet s = GenerateSnippet(/*seed=*/1, /*index=*/42, o);
#ifndef SKIFF_TCG_DIFFTEST_GENERATOR_H_
#define SKIFF_TCG_DIFFTEST_GENERATOR_H_

#include <cstdint>

#include "tcg/difftest/snippet.h"

namespace skiff::tcg::difftest {

// Optional instructions both the host and the interpreter implement.
struct Features {
  bool popcnt = false;
  bool lzcnt = false;  // CPUID.80000001h:ECX.ABM
  bool tzcnt = false;  // CPUID.7.0:EBX.BMI1
};
// Host CPUID AND the interpreter's CPUID.
Features CommonFeatures();

struct GeneratorOptions {
  int min_insns = 1;
  int max_insns = 20;
  Features features;
  // Do not generate patterns that hit the open bugs in KnownDivergences()
  // (difftest.h): zero-count 32-bit shifts of a register, XADD r, r with
  // the same register. Turn off to check whether they are fixed.
  bool avoid_known_bugs = true;
};

// Snippet number `index` of the sequence seeded by `seed`: the same pair
// always gives the same snippet, so one failure is reproducible alone.
Snippet GenerateSnippet(uint64_t seed, uint64_t index,
                        const GeneratorOptions& options);

}  // namespace skiff::tcg::difftest

#endif  // SKIFF_TCG_DIFFTEST_GENERATOR_H_
