// tcg_difftest: runs random instruction sequences natively and under the
// interpreter and prints every divergence (the CI test runs a fixed few
// thousand; this is "more on demand").
//
//   tcg_difftest [--seed=N] [--count=N] [--min=N] [--max=N] [--index=N]
//                [--cases] [--verbose] [--known-bugs]
//
// --index runs only snippet N of the seed (to reproduce one report);
// --cases also runs the hand-written cases; --known-bugs lets the generator
// produce the patterns of open known divergences (to check for fixes). Exit
// status 1 when a new divergence was found.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tcg/difftest/cases.h"
#include "tcg/difftest/compare.h"
#include "tcg/difftest/difftest.h"
#include "tcg/difftest/generator.h"

namespace {

bool Flag(const char* arg, const char* name, uint64_t* value) {
  const size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *value = std::strtoull(arg + n + 1, nullptr, 0);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace skiff::tcg::difftest;
  uint64_t seed = 1, count = 10000, min = 1, max = 20, index = ~0ull;
  bool cases = false, verbose = false, known_bugs = false;
  for (int k = 1; k < argc; ++k) {
    if (Flag(argv[k], "--seed", &seed) || Flag(argv[k], "--count", &count) ||
        Flag(argv[k], "--min", &min) || Flag(argv[k], "--max", &max) ||
        Flag(argv[k], "--index", &index)) {
      continue;
    }
    if (std::strcmp(argv[k], "--cases") == 0) {
      cases = true;
    } else if (std::strcmp(argv[k], "--known-bugs") == 0) {
      known_bugs = true;
    } else if (std::strcmp(argv[k], "--verbose") == 0) {
      verbose = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--seed=N] [--count=N] [--min=N] [--max=N] "
                   "[--index=N] [--cases] [--verbose] [--known-bugs]\n",
                   argv[0]);
      return 2;
    }
  }
  GeneratorOptions o;
  o.min_insns = static_cast<int>(min);
  o.max_insns = static_cast<int>(std::max(min, max));
  o.features = CommonFeatures();
  o.avoid_known_bugs = !known_bugs;
  std::vector<Snippet> snippets;
  if (cases) {
    auto c = HandWrittenCases();
    if (!c.ok()) {
      std::fprintf(stderr, "cases: %s\n", c.status().ToString().c_str());
      return 2;
    }
    snippets = std::move(*c);
  }
  if (index != ~0ull) {
    snippets.push_back(GenerateSnippet(seed, index, o));
  } else {
    for (uint64_t i = 0; i < count; ++i) {
      snippets.push_back(GenerateSnippet(seed, i, o));
    }
  }
  if (verbose) {
    for (const Snippet& s : snippets)
      std::printf("%s", DescribeSnippet(s).c_str());
  }
  auto harness = DiffHarness::Create();
  if (!harness.ok()) {
    std::fprintf(stderr, "%s\n", harness.status().ToString().c_str());
    return 2;
  }
  const absl::Time start = absl::Now();
  auto sum = (*harness)->Run(snippets);
  if (!sum.ok()) {
    std::fprintf(stderr, "%s\n", sum.status().ToString().c_str());
    return 2;
  }
  for (const std::string& d : sum->divergences) std::printf("%s\n", d.c_str());
  if (verbose) {
    for (const std::string& d : sum->known) std::printf("%s\n", d.c_str());
  }
  std::printf("%s (seed=%llu, popcnt=%d lzcnt=%d tzcnt=%d, %.1f s)\n",
              sum->Line().c_str(), static_cast<unsigned long long>(seed),
              o.features.popcnt, o.features.lzcnt, o.features.tzcnt,
              absl::ToDoubleSeconds(absl::Now() - start));
  return sum->divergences.empty() ? 0 : 1;
}
